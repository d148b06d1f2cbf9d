package dashboard

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Sign-in limits.
const (
	// loginWindow is the window failures are counted in.
	loginWindow = 15 * time.Minute
	// maxUserFailures is how many failed sign-ins one user name may have in
	// loginWindow before sign-in as that user is refused until the window
	// ends; maxAddrFailures is the same for one client address.
	maxUserFailures = 5
	maxAddrFailures = 20
	// maxLimiterEntries bounds the failure table; when it is full, sign-in
	// from new addresses is refused until entries expire (fail closed).
	maxLimiterEntries = 100_000
	// maxSessions bounds the session table: the oldest session is signed
	// out to make room.
	maxSessions = 10_000
	// bcryptSlots is how many password checks run at once.
	bcryptSlots = 2
)

// session is one signed-in browser. The session token itself is never
// stored: the table is keyed by its SHA-256.
type session struct {
	id       string // short public handle: first 12 hex digits of the token hash
	user     string
	role     Role
	csrf     string
	created  time.Time
	lastSeen time.Time
}

type auth struct {
	users     map[string]User
	dummyHash []byte
	idle, max time.Duration
	now       func() time.Time
	slots     chan struct{}
	mu        sync.Mutex
	sessions  map[[32]byte]*session
	userFails *limiter
	addrFails *limiter
}

func newAuth(cfg Config) *auth {
	a := &auth{
		users: map[string]User{}, idle: cfg.SessionIdle, max: cfg.SessionMax, now: cfg.Now,
		slots: make(chan struct{}, bcryptSlots), sessions: map[[32]byte]*session{},
		userFails: newLimiter(maxUserFailures), addrFails: newLimiter(maxAddrFailures),
	}
	for _, u := range cfg.Users {
		a.users[u.Name] = u
	}
	// A hash of the same cost as the first user's, compared against for
	// unknown names so that timing does not tell which names exist.
	cost, err := bcrypt.Cost([]byte(cfg.Users[0].PasswordBcrypt))
	if err != nil {
		cost = MinBcryptCost
	}
	a.dummyHash, _ = bcrypt.GenerateFromPassword([]byte("no such user"), cost)
	return a
}

func randomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func tokenHash(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// Sign-in outcomes.
var (
	errBadCredentials = errors.New("wrong user name or password")
	errThrottled      = errors.New("too many failed sign-ins; try again later")
)

// login checks name and password from addr and returns a new session and
// its token. It refuses (errThrottled, with how long to wait) a name or an
// address with too many recent failures, before checking the password.
func (a *auth) login(name, password, addr string) (*session, string, time.Duration, error) {
	now := a.now()
	if wait := max(a.userFails.blocked(name, now), a.addrFails.blocked(addr, now)); wait > 0 {
		return nil, "", wait, errThrottled
	}
	u, known := a.users[name]
	hash := a.dummyHash
	if known {
		hash = []byte(u.PasswordBcrypt)
	}
	a.slots <- struct{}{}
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	<-a.slots
	if err != nil || !known {
		a.userFails.fail(name, now)
		a.addrFails.fail(addr, now)
		return nil, "", 0, errBadCredentials
	}
	a.userFails.reset(name)
	token := randomToken()
	h := tokenHash(token)
	s := &session{id: hex.EncodeToString(h[:6]), user: u.Name, role: u.Role, csrf: randomToken(), created: now, lastSeen: now}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expireLocked(now)
	if len(a.sessions) >= maxSessions {
		var oldest [32]byte
		var oldestAt time.Time
		for k, s := range a.sessions {
			if oldestAt.IsZero() || s.created.Before(oldestAt) {
				oldest, oldestAt = k, s.created
			}
		}
		delete(a.sessions, oldest)
	}
	a.sessions[h] = s
	return s, token, 0, nil
}

// session returns a copy of the live session of token and refreshes its
// idle timer when touch is set.
func (a *auth) session(token string, touch bool) (session, bool) {
	if token == "" {
		return session{}, false
	}
	h := tokenHash(token)
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.sessions[h]
	if !ok {
		return session{}, false
	}
	if a.expired(s, now) {
		delete(a.sessions, h)
		return session{}, false
	}
	if touch {
		s.lastSeen = now
	}
	return *s, true
}

func (a *auth) expired(s *session, now time.Time) bool {
	return now.Sub(s.lastSeen) >= a.idle || now.Sub(s.created) >= a.max
}

func (a *auth) expireLocked(now time.Time) {
	for k, s := range a.sessions {
		if a.expired(s, now) {
			delete(a.sessions, k)
		}
	}
}

func (a *auth) logout(token string) {
	h := tokenHash(token)
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.sessions, h)
}

// SessionInfo describes a live session to an admin.
type SessionInfo struct {
	ID       string    `json:"id"`
	User     string    `json:"user"`
	Role     Role      `json:"role"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen"`
	Current  bool      `json:"current,omitempty"`
}

func (a *auth) list(current string) []SessionInfo {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expireLocked(now)
	out := make([]SessionInfo, 0, len(a.sessions))
	for _, s := range a.sessions {
		out = append(out, SessionInfo{ID: s.id, User: s.user, Role: s.role, Created: s.created, LastSeen: s.lastSeen, Current: s.id == current})
	}
	slices.SortFunc(out, func(x, y SessionInfo) int { return x.Created.Compare(y.Created) })
	return out
}

// revoke signs out the session with public id; false when there is none.
func (a *auth) revoke(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, s := range a.sessions {
		if subtle.ConstantTimeCompare([]byte(s.id), []byte(id)) == 1 {
			delete(a.sessions, k)
			return true
		}
	}
	return false
}

// limiter counts failures per key in fixed windows.
type limiter struct {
	maxFails int
	mu       sync.Mutex
	entries  map[string]*window
}

type window struct {
	start time.Time
	fails int
}

func newLimiter(maxFails int) *limiter {
	return &limiter{maxFails: maxFails, entries: map[string]*window{}}
}

// blocked returns how long key must wait, 0 when it may try.
func (l *limiter) blocked(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.entries[key]
	if !ok {
		if len(l.entries) >= maxLimiterEntries {
			l.pruneLocked(now)
			if len(l.entries) >= maxLimiterEntries {
				return loginWindow
			}
		}
		return 0
	}
	if now.Sub(w.start) >= loginWindow {
		delete(l.entries, key)
		return 0
	}
	if w.fails >= l.maxFails {
		return loginWindow - now.Sub(w.start)
	}
	return 0
}

func (l *limiter) fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.entries[key]
	if !ok || now.Sub(w.start) >= loginWindow {
		if !ok && len(l.entries) >= maxLimiterEntries {
			return
		}
		w = &window{start: now}
		l.entries[key] = w
	}
	w.fails++
}

func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.entries, key)
}

func (l *limiter) pruneLocked(now time.Time) {
	for k, w := range l.entries {
		if now.Sub(w.start) >= loginWindow {
			delete(l.entries, k)
		}
	}
}
