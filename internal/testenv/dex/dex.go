// Package dex runs Dex, a real OpenID Connect provider, for flyt's tests: one process per
// Start, with its storage in memory, a local password database of the users a test names, and
// the clients it names. Tests log in through it exactly as people and the CLI will log in
// through the platform's provider: discovery, the authorization code flow, the device flow and
// ID tokens signed with keys served at its JWKS endpoint.
//
// The binary is built from the Go module proxy by hack/dex.sh (`make dex`; `make test` does it
// first) into a cache outside the repository; Path says where.
package dex

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
	"sigs.k8s.io/yaml"

	"github.com/flyt-platform/flyt/internal/testenv/toolcache"
)

//go:embed versions.env
var versionsEnv string

// Path returns the Dex binary: $FLYT_DEX when set, otherwise <user cache dir>/flyt/dex/<version>/dex,
// where hack/dex.sh builds it.
func Path() (string, error) {
	if p := os.Getenv("FLYT_DEX"); p != "" {
		return p, nil
	}
	root, err := toolcache.Root("FLYT_DEX_CACHE", "dex")
	if err != nil {
		return "", err
	}
	return filepath.Join(root, toolcache.Versions(versionsEnv)["DEX_VERSION"], "dex"), nil
}

// User is a person in Dex's password database.
type User struct {
	Email    string
	Password string
	// Name is the user name; default the part of Email before the @.
	Name string
}

// Client is an OAuth 2.0 client Dex knows.
type Client struct {
	ID     string
	Secret string // empty for a public client (the CLI)
	// RedirectURIs the authorization code flow may return to.
	RedirectURIs []string
}

// Options configure a Dex server.
type Options struct {
	// Dir holds its config and log (a test's t.TempDir()). Required.
	Dir     string
	Users   []User
	Clients []Client
}

// Server is a running Dex.
type Server struct {
	// Issuer is the provider's issuer URL, for discovery (go-oidc's NewProvider).
	Issuer string

	cmd  *exec.Cmd
	done chan struct{}
	once sync.Once
}

// Start writes a config for opts and starts Dex, returning once its discovery document is
// served. A free loopback port is chosen for it.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin, err := Path()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("dex binary %s: %w; build it with `make dex` (hack/dex.sh) or set FLYT_DEX", bin, err)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	issuer := "http://" + addr + "/dex"
	cfg, err := config(issuer, addr, opts)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(opts.Dir, "dex.yaml")
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		return nil, fmt.Errorf("write dex config: %w", err)
	}
	logFile, err := os.Create(filepath.Join(opts.Dir, "dex.log"))
	if err != nil {
		return nil, fmt.Errorf("create dex log: %w", err)
	}
	cmd := exec.Command(bin, "serve", path)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start dex: %w", err)
	}
	s := &Server{Issuer: issuer, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		close(s.done)
	}()
	if err := s.waitReady(ctx); err != nil {
		s.Stop()
		return nil, fmt.Errorf("%w (log: %s)", err, lastLines(filepath.Join(opts.Dir, "dex.log")))
	}
	return s, nil
}

// Stop ends the process and waits for it.
func (s *Server) Stop() {
	s.once.Do(func() {
		_ = s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
}

// waitReady polls the discovery document until Dex serves it, or for 30 seconds.
func (s *Server) waitReady(ctx context.Context) error {
	url := s.Issuer + "/.well-known/openid-configuration"
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.done:
			return errors.New("dex exited before it served discovery")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("dex served no discovery document within 30s")
		}
	}
}

// config is Dex's configuration: memory storage, the password database as the password
// grant's connector, every grant flyt uses, no approval screen.
func config(issuer, addr string, opts Options) ([]byte, error) {
	type staticPassword struct {
		Email    string `json:"email"`
		Hash     string `json:"hash"`
		Username string `json:"username"`
		UserID   string `json:"userID"`
	}
	type staticClient struct {
		ID           string   `json:"id"`
		Name         string   `json:"name"`
		Secret       string   `json:"secret,omitempty"`
		Public       bool     `json:"public,omitempty"`
		RedirectURIs []string `json:"redirectURIs,omitempty"`
	}
	var users []staticPassword
	for i, u := range opts.Users {
		// Dex refuses hashes below bcrypt's default cost.
		hash, err := bcrypt.GenerateFromPassword([]byte(u.Password), bcrypt.DefaultCost)
		if err != nil {
			return nil, fmt.Errorf("hash the password of %s: %w", u.Email, err)
		}
		name := u.Name
		if name == "" {
			name, _, _ = strings.Cut(u.Email, "@")
		}
		users = append(users, staticPassword{Email: u.Email, Hash: string(hash), Username: name, UserID: fmt.Sprint(i + 1)})
	}
	var clients []staticClient
	for _, c := range opts.Clients {
		clients = append(clients, staticClient{ID: c.ID, Name: c.ID, Secret: c.Secret, Public: c.Secret == "", RedirectURIs: c.RedirectURIs})
	}
	return yaml.Marshal(map[string]any{
		"issuer":  issuer,
		"storage": map[string]any{"type": "memory"},
		"web":     map[string]any{"http": addr},
		"logger":  map[string]any{"level": "warn"},
		"oauth2": map[string]any{
			"skipApprovalScreen": true,
			"passwordConnector":  "local",
			"grantTypes":         []string{"authorization_code", "refresh_token", "password", "urn:ietf:params:oauth:grant-type:device_code"},
		},
		"enablePasswordDB": true,
		"staticPasswords":  users,
		"staticClients":    clients,
	})
}

// freeAddr finds a free loopback port. Another process could take it before Dex listens;
// Start then fails saying so, which is rare enough for tests.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr, nil
}

// lastLines returns the end of a log file, for an error.
func lastLines(path string) string {
	b, _ := os.ReadFile(path)
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = s[len(s)-2000:]
	}
	return s
}
