package ui

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// SessionUser is the identity a session acts as: the authenticated user taken at sign-in
// and, with a TokenSource, the user its token stands for now. The token is not kept.
type SessionUser struct {
	Name   string              `json:"name"`
	UID    string              `json:"uid,omitempty"`
	Groups []string            `json:"groups,omitempty"`
	Extra  map[string][]string `json:"extra,omitempty"`
}

func (u SessionUser) clone() *SessionUser {
	u.Groups = slices.Clip(slices.Clone(u.Groups))
	u.Extra = maps.Clone(u.Extra)
	return &u
}

// Session is what the store keeps per session.
type Session struct {
	User     SessionUser `json:"user"`
	Created  time.Time   `json:"created"`
	LastSeen time.Time   `json:"lastSeen"`
	Expires  time.Time   `json:"expires"`
	// Source is the token the session was made from, without the token (nil: made before
	// sessions followed their tokens, or without a token).
	Source *SessionSource `json:"source,omitempty"`
}

// SessionSource says which token a session was made from without keeping it: the HMAC-SHA256
// of the token under a random salt of the session's own (a copy of the store lets one test a
// guess against one session at a time, never look a token up), and what the TokenSource
// said about the token at sign-in.
type SessionSource struct {
	// Kind is the kind of token (the TokenSource's word, e.g. "file" or "admin").
	Kind string `json:"kind,omitempty"`
	// Origin names who alone can check a token of this kind again (e.g. the replica whose
	// own token it is); empty: anyone with the same source.
	Origin string `json:"origin,omitempty"`
	Salt   []byte `json:"salt"`
	Sum    []byte `json:"sum"`
}

const sourceContext = "dpa ui session token\x00"

func newSessionSource(token string) (*SessionSource, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	return &SessionSource{Salt: salt, Sum: tokenSum(salt, token)}, nil
}

func tokenSum(salt []byte, token string) []byte {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(sourceContext))
	m.Write([]byte(token))
	return m.Sum(nil)
}

// Matches reports whether the session was made from token.
func (s SessionSource) Matches(token string) bool {
	return len(s.Salt) > 0 && hmac.Equal(tokenSum(s.Salt, token), s.Sum)
}

// TokenSource is where the tokens sessions are made from come from, as they are now. With
// one (Sessions.FollowTokens) every session follows its token: it ends when the token is gone
// and acts as the user the token stands for now (its groups follow the source).
type TokenSource interface {
	// TokenGeneration changes whenever the tokens may have changed (a reload).
	TokenGeneration() uint64
	// DescribeToken says what kind of token signed in (recorded in the session).
	DescribeToken(token string) (kind, origin string)
	// CurrentUser is the user of the session's token now: known false when this source
	// cannot tell (the session keeps its user), a nil user when the token is gone.
	CurrentUser(src SessionSource) (u *SessionUser, known bool)
}

// SessionStore keeps sessions where every replica sees them. Keys are hashes of the cookie
// value, never the value itself.
type SessionStore interface {
	// Put stores s under key until s.Expires.
	Put(ctx context.Context, key string, s Session) error
	// Get returns the session, or nil when there is none.
	Get(ctx context.Context, key string) (*Session, error)
	Delete(ctx context.Context, key string) error
	// List returns every stored session by key.
	List(ctx context.Context) (map[string]Session, error)
}

// Sessions are server-side sign-in sessions: the cookie holds a random id, the store the
// identity. A session ends after Idle without use, after Absolute in any case, and at
// sign-out on every replica sharing the store.
type Sessions struct {
	store    SessionStore
	idle     time.Duration
	absolute time.Duration
	now      func() time.Time
	tokens   TokenSource
	// current caches what tokens said about each session (by key) at generation gen.
	mu      sync.Mutex
	gen     uint64
	current map[string]currentUser
}

type currentUser struct {
	user *SessionUser // nil: the token is gone
}

// Default session lifetimes. Grafana's are 7 days idle and 30 days in all
// (login_maximum_inactive_lifetime_duration, login_maximum_lifetime_duration); dpa is
// stricter, as a console for a data plane holding datasource secrets.
const (
	DefaultSessionIdle     = time.Hour
	DefaultSessionAbsolute = 12 * time.Hour
)

// NewSessions returns Sessions on store. Zero durations take the defaults.
func NewSessions(store SessionStore, idle, absolute time.Duration) *Sessions {
	if idle <= 0 {
		idle = DefaultSessionIdle
	}
	if absolute <= 0 {
		absolute = DefaultSessionAbsolute
	}
	return &Sessions{store: store, idle: idle, absolute: absolute, now: time.Now}
}

// FollowTokens makes every session follow the token it was made from (TokenSource); call it
// before the first session is used. A session that does not say which token it was made
// from then ends.
func (s *Sessions) FollowTokens(tokens TokenSource) {
	s.tokens = tokens
}

func sessionKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// Start creates a session for u, who signed in with token, and returns the cookie value and
// when it expires. The session records which token it was made from (SessionSource), never
// the token.
func (s *Sessions) Start(ctx context.Context, u SessionUser, token string) (string, time.Time, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", time.Time{}, err
	}
	id := base64.RawURLEncoding.EncodeToString(b)
	now := s.now()
	sess := Session{User: u, Created: now, LastSeen: now, Expires: now.Add(s.absolute)}
	if token != "" {
		src, err := newSessionSource(token)
		if err != nil {
			return "", time.Time{}, err
		}
		if s.tokens != nil {
			src.Kind, src.Origin = s.tokens.DescribeToken(token)
		}
		sess.Source = src
	}
	if err := s.store.Put(ctx, sessionKey(id), sess); err != nil {
		return "", time.Time{}, fmt.Errorf("storing the session: %w", err)
	}
	return id, sess.Expires, nil
}

// Lookup returns the session's user, or nil when the session does not exist, ended, was
// idle too long or (with FollowTokens) its token is gone. Use moves LastSeen forward (written
// at most once a minute).
func (s *Sessions) Lookup(ctx context.Context, id string) (*SessionUser, error) {
	if id == "" {
		return nil, nil
	}
	key := sessionKey(id)
	sess, err := s.store.Get(ctx, key)
	if err != nil || sess == nil {
		return nil, err
	}
	now := s.now()
	u := s.userOf(key, sess)
	if u == nil || !now.Before(sess.Expires) || now.Sub(sess.LastSeen) >= s.idle {
		_ = s.store.Delete(ctx, key)
		return nil, nil
	}
	if now.Sub(sess.LastSeen) >= time.Minute {
		sess.LastSeen = now
		if err := s.store.Put(ctx, key, *sess); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// userOf is who the session acts as now: without a TokenSource its user; with one, the user
// its token stands for now (its own user when the source cannot tell), nil when the token is
// gone or the session does not say which token it was made from. The answer is kept per
// session until the tokens change.
func (s *Sessions) userOf(key string, sess *Session) *SessionUser {
	if s.tokens == nil {
		return sess.User.clone()
	}
	if sess.Source == nil {
		return nil
	}
	gen := s.tokens.TokenGeneration()
	s.mu.Lock()
	if s.current == nil || s.gen != gen || len(s.current) >= maxTracked {
		s.current, s.gen = map[string]currentUser{}, gen
	}
	c, ok := s.current[key]
	s.mu.Unlock()
	if !ok {
		u, known := s.tokens.CurrentUser(*sess.Source)
		if !known {
			u = &sess.User
		}
		c = currentUser{user: u}
		s.mu.Lock()
		if s.gen == gen {
			s.current[key] = c
		}
		s.mu.Unlock()
	}
	if c.user == nil {
		return nil
	}
	return c.user.clone()
}

// Recheck checks every stored session against its token (FollowTokens) and ends those whose
// token is gone or that do not say which token they were made from; the others act as their
// token's current user from their next use on (Lookup). dpa calls it at start and after every
// reload of the tokens, so an ended session is gone from the store, for every replica.
func (s *Sessions) Recheck(ctx context.Context) (ended int, err error) {
	if s.tokens == nil {
		return 0, nil
	}
	all, err := s.store.List(ctx)
	if err != nil {
		return 0, err
	}
	var errs []error
	for key, sess := range all {
		if s.userOf(key, &sess) != nil {
			continue
		}
		if err := s.store.Delete(ctx, key); err != nil {
			errs = append(errs, err)
			continue
		}
		ended++
	}
	return ended, errors.Join(errs...)
}

// End revokes the session.
func (s *Sessions) End(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	return s.store.Delete(ctx, sessionKey(id))
}

// MemorySessionStore keeps sessions in this process only (tests, single replica without
// shared storage).
type MemorySessionStore struct {
	mu sync.Mutex
	m  map[string]Session
}

// NewMemorySessionStore returns an empty MemorySessionStore.
func NewMemorySessionStore() *MemorySessionStore {
	return &MemorySessionStore{m: map[string]Session{}}
}

// Put implements SessionStore.
func (m *MemorySessionStore) Put(_ context.Context, key string, s Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[key] = s
	return nil
}

// Get implements SessionStore.
func (m *MemorySessionStore) Get(_ context.Context, key string) (*Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.m[key]; ok {
		return &s, nil
	}
	return nil, nil
}

// Delete implements SessionStore.
func (m *MemorySessionStore) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, key)
	return nil
}

// List implements SessionStore.
func (m *MemorySessionStore) List(_ context.Context) (map[string]Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.m), nil
}

// EtcdSessionStore keeps sessions in dpa's storage (kine or etcd) under a key prefix, each
// bound to a lease that ends with the session, so every replica sees sign-in and sign-out.
type EtcdSessionStore struct {
	client *clientv3.Client
	prefix string
}

// NewEtcdSessionStore returns a store on client under prefix (e.g. "/dpa/sessions/").
func NewEtcdSessionStore(client *clientv3.Client, prefix string) *EtcdSessionStore {
	return &EtcdSessionStore{client: client, prefix: prefix}
}

// Put implements SessionStore.
func (e *EtcdSessionStore) Put(ctx context.Context, key string, s Session) error {
	ttl := int64(time.Until(s.Expires)/time.Second) + 1
	if ttl < 1 {
		return errors.New("session already expired")
	}
	lease, err := e.client.Grant(ctx, ttl)
	if err != nil {
		return err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = e.client.Put(ctx, e.prefix+key, string(b), clientv3.WithLease(lease.ID))
	return err
}

// Get implements SessionStore.
func (e *EtcdSessionStore) Get(ctx context.Context, key string) (*Session, error) {
	resp, err := e.client.Get(ctx, e.prefix+key)
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	var s Session
	if err := json.Unmarshal(resp.Kvs[0].Value, &s); err != nil {
		return nil, fmt.Errorf("session record: %w", err)
	}
	return &s, nil
}

// Delete implements SessionStore. kine implements deletion only as a transaction (the
// shapes the API server uses): this is its unconditional one, a get and a delete, which etcd
// runs alike.
func (e *EtcdSessionStore) Delete(ctx context.Context, key string) error {
	_, err := e.client.Txn(ctx).Then(clientv3.OpGet(e.prefix+key), clientv3.OpDelete(e.prefix+key)).Commit()
	return err
}

// List implements SessionStore.
func (e *EtcdSessionStore) List(ctx context.Context) (map[string]Session, error) {
	resp, err := e.client.Get(ctx, e.prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	out := make(map[string]Session, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var s Session
		if err := json.Unmarshal(kv.Value, &s); err != nil {
			continue // not a session record: Lookup never yields it either
		}
		out[strings.TrimPrefix(string(kv.Key), e.prefix)] = s
	}
	return out, nil
}
