package ui

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// SessionUser is the identity a session acts as: a snapshot of the authenticated user taken
// at sign-in. The token the user signed in with is not kept.
type SessionUser struct {
	Name   string              `json:"name"`
	UID    string              `json:"uid,omitempty"`
	Groups []string            `json:"groups,omitempty"`
	Extra  map[string][]string `json:"extra,omitempty"`
}

// Session is what the store keeps per session.
type Session struct {
	User     SessionUser `json:"user"`
	Created  time.Time   `json:"created"`
	LastSeen time.Time   `json:"lastSeen"`
	Expires  time.Time   `json:"expires"`
}

// SessionStore keeps sessions where every replica sees them. Keys are hashes of the cookie
// value, never the value itself.
type SessionStore interface {
	// Put stores s under key until s.Expires.
	Put(ctx context.Context, key string, s Session) error
	// Get returns the session, or nil when there is none.
	Get(ctx context.Context, key string) (*Session, error)
	Delete(ctx context.Context, key string) error
}

// Sessions are server-side sign-in sessions: the cookie holds a random id, the store the
// identity. A session ends after Idle without use, after Absolute in any case, and at
// sign-out on every replica sharing the store.
type Sessions struct {
	store    SessionStore
	idle     time.Duration
	absolute time.Duration
	now      func() time.Time
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

func sessionKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// Start creates a session for u and returns the cookie value and when it expires.
func (s *Sessions) Start(ctx context.Context, u SessionUser) (string, time.Time, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", time.Time{}, err
	}
	id := base64.RawURLEncoding.EncodeToString(b)
	now := s.now()
	sess := Session{User: u, Created: now, LastSeen: now, Expires: now.Add(s.absolute)}
	if err := s.store.Put(ctx, sessionKey(id), sess); err != nil {
		return "", time.Time{}, fmt.Errorf("storing the session: %w", err)
	}
	return id, sess.Expires, nil
}

// Lookup returns the session's user, or nil when the session does not exist, ended, or was
// idle too long. Use moves LastSeen forward (written at most once a minute).
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
	if !now.Before(sess.Expires) || now.Sub(sess.LastSeen) >= s.idle {
		_ = s.store.Delete(ctx, key)
		return nil, nil
	}
	if now.Sub(sess.LastSeen) >= time.Minute {
		sess.LastSeen = now
		if err := s.store.Put(ctx, key, *sess); err != nil {
			return nil, err
		}
	}
	return &sess.User, nil
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
