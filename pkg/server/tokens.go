package server

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/token/tokenfile"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/dataplane-aggregator/dpa/pkg/authz"
	"github.com/dataplane-aggregator/dpa/pkg/filewatch"
	"github.com/dataplane-aggregator/dpa/pkg/ui"
)

// tokenPollInterval is how often --token-auth-file is checked for changes, as the
// provisioning files are.
const tokenPollInterval = 5 * time.Second

// The kinds of dpa's own tokens, as UI sessions record them (ui.SessionSource.Kind).
const (
	tokenKindAdmin    = "admin"    // <data-dir>/admin-token: this replica's own
	tokenKindInternal = "internal" // dpa's in-memory identity: this process's own
	tokenKindFile     = "file"     // --token-auth-file: the same on every replica
)

// tokenTable is dpa's own bearer tokens: the admin token and the internal identity's, which
// do not change while dpa runs, and --token-auth-file's, read again when the file changes
// (filewatch, every tokenPollInterval) and on SIGHUP. The file is parsed by k8s.io/apiserver's
// tokenfile.NewCSV; a file that does not load keeps the last good table (logged). Each good
// load swaps the whole table at once (an atomic pointer) and then runs the onReload hooks
// (the UI sessions' re-check).
//
// It is also the UI sessions' ui.TokenSource: a session records its token's kind and, for a
// replica's own tokens (admin, internal), the replica (origin); only that replica can check
// those again, every replica checks the file's.
type tokenTable struct {
	file   string
	origin string
	static map[string]tokenEntry
	log    *slog.Logger
	cur    atomic.Pointer[tokenSet]

	mu       sync.Mutex // one reload at a time; guards onReload
	onReload []func()
}

type tokenEntry struct {
	kind string
	user *user.DefaultInfo
}

// tokenSet is one immutable generation of the table.
type tokenSet struct {
	gen    uint64
	tokens map[string]tokenEntry
}

// newTokenTable loads the table; without a readable, valid --token-auth-file dpa does not
// start. origin names this replica (--replica-name).
func newTokenTable(adminToken string, internal internalIdentity, tokenAuthFile, origin string, log *slog.Logger) (*tokenTable, error) {
	static := map[string]tokenEntry{
		adminToken: {tokenKindAdmin, &user.DefaultInfo{Name: AdminUser, UID: AdminUser, Groups: []string{user.SystemPrivilegedGroup, user.AllAuthenticated}}},
	}
	if internal.token != "" {
		// No group: the authorizer grants it the Plugin writes and nothing a signed-in user
		// without a role could not do.
		static[internal.token] = tokenEntry{tokenKindInternal, &user.DefaultInfo{Name: authz.InternalUser, UID: internal.uid, Groups: []string{user.AllAuthenticated}}}
	}
	if log == nil {
		log = slog.Default()
	}
	t := &tokenTable{file: tokenAuthFile, origin: origin, static: static, log: log}
	if err := t.reload(); err != nil {
		return nil, fmt.Errorf("--token-auth-file: %w", err)
	}
	return t, nil
}

// AuthenticateToken implements authenticator.Token with the current table.
func (t *tokenTable) AuthenticateToken(_ context.Context, token string) (*authenticator.Response, bool, error) {
	e, ok := t.cur.Load().tokens[token]
	if !ok {
		return nil, false, nil
	}
	return &authenticator.Response{User: e.user}, true, nil
}

// reload reads --token-auth-file again and, when it loads, swaps the table and runs the
// onReload hooks; on an error the table stays as it was.
func (t *tokenTable) reload() error {
	t.mu.Lock()
	tokens := make(map[string]tokenEntry, len(t.static))
	if t.file != "" {
		users, err := loadTokenFile(t.file)
		if err != nil {
			t.mu.Unlock()
			return err
		}
		for tok, u := range users {
			tokens[tok] = tokenEntry{tokenKindFile, u}
		}
	}
	for tok, e := range t.static { // dpa's own tokens win over a line of the file
		tokens[tok] = e
	}
	var gen uint64
	if old := t.cur.Load(); old != nil {
		gen = old.gen + 1
	}
	t.cur.Store(&tokenSet{gen: gen, tokens: tokens})
	hooks := slices.Clone(t.onReload)
	t.mu.Unlock()
	for _, f := range hooks {
		f()
	}
	return nil
}

// reloadLogged is reload for the file watch and SIGHUP: the outcome is logged.
func (t *tokenTable) reloadLogged() {
	if t.file == "" {
		return
	}
	if err := t.reload(); err != nil {
		t.log.Error("--token-auth-file reload failed; keeping the last good tokens", "file", t.file, "error", err)
		return
	}
	t.log.Info("--token-auth-file reloaded", "file", t.file, "tokens", len(t.cur.Load().tokens)-len(t.static))
}

// OnReload adds a hook run after every good reload.
func (t *tokenTable) OnReload(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.onReload = append(t.onReload, f)
}

// watch reloads the file whenever it changes, until ctx ends.
func (t *tokenTable) watch(ctx context.Context) {
	if t.file == "" {
		return
	}
	filewatch.Watch(ctx, tokenPollInterval, []string{t.file}, t.reloadLogged)
}

// followedBy makes sessions follow the table: each session acts as its token's current user
// and ends when its token is gone, checked at once (start) and after every good reload.
func (t *tokenTable) followedBy(ctx context.Context, sessions *ui.Sessions) {
	sessions.FollowTokens(t)
	recheck := func() {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		ended, err := sessions.Recheck(rctx)
		if err != nil && ctx.Err() == nil {
			t.log.Error("re-checking UI sessions against their tokens", "error", err)
		}
		if ended > 0 {
			t.log.Info("UI sessions ended: their tokens are gone", "sessions", ended)
		}
	}
	t.OnReload(recheck)
	go recheck()
}

// TokenGeneration implements ui.TokenSource.
func (t *tokenTable) TokenGeneration() uint64 { return t.cur.Load().gen }

// DescribeToken implements ui.TokenSource: the token's kind and, for this replica's own
// tokens, this replica.
func (t *tokenTable) DescribeToken(token string) (kind, origin string) {
	e, ok := t.cur.Load().tokens[token]
	if !ok {
		return "", ""
	}
	if e.kind != tokenKindFile {
		origin = t.origin
	}
	return e.kind, origin
}

// CurrentUser implements ui.TokenSource. Another replica's own token (its admin token) is
// not this replica's to judge; every other session is found among the tokens of its kind or
// is gone.
func (t *tokenTable) CurrentUser(src ui.SessionSource) (*ui.SessionUser, bool) {
	switch src.Kind {
	case tokenKindAdmin, tokenKindInternal:
		if src.Origin != t.origin {
			return nil, false
		}
	case tokenKindFile:
	default:
		return nil, true
	}
	for tok, e := range t.cur.Load().tokens {
		if e.kind == src.Kind && src.Matches(tok) {
			return sessionUser(e.user), true
		}
	}
	return nil, true
}

func sessionUser(u user.Info) *ui.SessionUser {
	return &ui.SessionUser{Name: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups(), Extra: u.GetExtra()}
}

// loadTokenFile reads a Kubernetes static token file with tokenfile.NewCSV, which decides
// what a line means (token,user,uid,"group1,group2"); the tokens are listed from the same
// bytes (their first column) so sessions can be checked against each. A file that changes
// while it is read is an error (the next check reads it again).
func loadTokenFile(path string) (map[string]*user.DefaultInfo, error) {
	before, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	auth, err := tokenfile.NewCSV(path)
	if err != nil {
		return nil, err
	}
	after, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(before, after) {
		return nil, errors.New("the file changed while it was read")
	}
	r := csv.NewReader(bytes.NewReader(before))
	r.FieldsPerRecord = -1
	out := map[string]*user.DefaultInfo{}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		resp, ok, _ := auth.AuthenticateToken(context.Background(), rec[0])
		if !ok {
			continue
		}
		u := resp.User
		out[rec[0]] = &user.DefaultInfo{Name: u.GetName(), UID: u.GetUID(), Groups: slices.Clip(u.GetGroups()), Extra: u.GetExtra()}
	}
}
