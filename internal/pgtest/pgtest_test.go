package pgtest

import (
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestServer starts a server, uses two fresh databases over the socket and TCP, and checks that
// Stop removes everything.
func TestServer(t *testing.T) {
	if Skip() {
		t.Skip(SkipEnv + "=1")
	}
	srv, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	dir := srv.Dir
	t.Run("databases", func(t *testing.T) {
		a, b := srv.NewDatabase(t), srv.NewDatabase(t)
		if a == b {
			t.Fatalf("two databases share the DSN %s", a)
		}
		for _, dsn := range []string{a, srv.TCPDSN("postgres")} {
			c, err := pgx.Connect(t.Context(), dsn)
			if err != nil {
				t.Fatalf("connect %s: %v", dsn, err)
			}
			var one int
			if err := c.QueryRow(t.Context(), "SELECT 1").Scan(&one); err != nil || one != 1 {
				t.Errorf("SELECT 1 over %s = %d, %v", dsn, one, err)
			}
			c.Close(t.Context())
		}
	})
	srv.Stop()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("Stop left %s behind (stat: %v)", dir, err)
	}
	if _, err := pgx.Connect(t.Context(), srv.DSN("postgres")); err == nil {
		t.Error("server still accepts connections after Stop")
	}
}
