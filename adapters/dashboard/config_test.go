package dashboard

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestConfigValidate(t *testing.T) {
	w := newWorld(t)
	users := testUsers(t)
	low, err := bcrypt.GenerateFromPassword([]byte("x"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	good := Config{Path: "x.db", Ledger: w.ledger, Users: users}
	if err := good.Validate(); err != nil {
		t.Fatalf("a good config: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no path", func(c *Config) { c.Path = "" }, "path:"},
		{"no ledger", func(c *Config) { c.Ledger = nil }, "ledger:"},
		{"no users", func(c *Config) { c.Users = nil }, "users: at least one"},
		{"bad name", func(c *Config) {
			c.Users = []User{{Name: "a b", Role: RoleAdmin, PasswordBcrypt: users[0].PasswordBcrypt}}
		}, "users[0].name"},
		{"duplicate name", func(c *Config) { c.Users = []User{users[0], users[0]} }, "users[1].name"},
		{"bad role", func(c *Config) { c.Users = []User{{Name: "a", Role: "root", PasswordBcrypt: users[0].PasswordBcrypt}} }, "users[0].role"},
		{"plain password", func(c *Config) { c.Users = []User{{Name: "a", Role: RoleViewer, PasswordBcrypt: "secret"}} }, "users[0].password_bcrypt: not a bcrypt hash"},
		{"weak hash", func(c *Config) { c.Users = []User{{Name: "a", Role: RoleViewer, PasswordBcrypt: string(low)}} }, "users[0].password_bcrypt: cost 4"},
		{"batch", func(c *Config) { c.Batch = -1 }, "batch:"},
		{"poll", func(c *Config) { c.Poll = time.Millisecond }, "poll:"},
		{"session", func(c *Config) { c.SessionIdle = 2 * time.Hour; c.SessionMax = time.Hour }, "session_idle:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := good
			c.edit(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, c.want)
			}
			if _, err := Open(cfg); err == nil {
				t.Fatal("Open accepted it")
			}
		})
	}
}
