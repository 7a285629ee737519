package webhook

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/internal/repourl"
)

// DefaultBranch is the branch a watched repository follows when the platform config names none,
// as environments.Repository documents.
const DefaultBranch = "main"

// Secret is one shared webhook secret. Its value is unexported and every way of printing it
// (fmt, slog) shows REDACTED, so a secret cannot leak into logs, errors or API output by
// accident (architecture invariant 5).
type Secret struct {
	// Team owns the secret: it only authorises webhooks about that team's repositories. Empty
	// means platform-wide: valid for every watched repository.
	Team  string
	value []byte
}

// NewSecret makes a Secret for team ("" for platform-wide). Surrounding whitespace is
// trimmed, because secret files usually end in a newline that GitHub never signs with.
func NewSecret(team string, value []byte) Secret {
	return Secret{Team: team, value: bytes.Clone(bytes.TrimSpace(value))}
}

// LogValue keeps the secret out of structured logs.
func (s Secret) LogValue() slog.Value {
	return slog.GroupValue(slog.String("team", s.Team), slog.String("value", "REDACTED"))
}

// String keeps the secret out of fmt output.
func (s Secret) String() string { return "REDACTED" }

// GoString keeps the secret out of %#v output.
func (s Secret) GoString() string { return "webhook.Secret{REDACTED}" }

// WatchedRepo is one repository of one team that flyt follows: a push to Branch refreshes it.
// The same repository may be watched by several teams; each gets its own Refresh.
type WatchedRepo struct {
	// Team owns the repository.
	Team string
	// URL is the repository as configured (clone URL, SSH URL or scp-like address). It is
	// passed back verbatim in Refresh.Repository so that sync can find its own config entry.
	URL string
	// Branch is the branch that feeds branch-fed environments; empty means DefaultBranch.
	Branch string
}

// Config is the receiver's view of the platform: which secrets are valid and which
// repositories are watched. It is replaced as a whole when the platform config is reloaded.
type Config struct {
	// Secrets are all valid webhook secrets, platform-wide and per team. Several may be valid
	// at once so that a secret can be rotated without missing a delivery.
	Secrets []Secret
	// Repos are the watched repositories.
	Repos []WatchedRepo
}

// ErrEmptySecret reports a webhook secret with no content: an empty HMAC key would let anyone
// sign a webhook, so it is refused.
var ErrEmptySecret = errors.New("webhook secret is empty")

// ConfigFromPlatform reads the webhook secret files named in the platform config and collects
// the teams' repositories. A file that cannot be read or is empty is an error naming the file,
// never its content.
func ConfigFromPlatform(p *environments.Platform) (Config, error) {
	var cfg Config
	for _, f := range p.Server.WebhookSecretFiles {
		s, err := readSecretFile("", f)
		if err != nil {
			return Config{}, err
		}
		cfg.Secrets = append(cfg.Secrets, s)
	}
	for _, t := range p.Teams {
		for _, f := range t.WebhookSecretFiles {
			s, err := readSecretFile(t.Name, f)
			if err != nil {
				return Config{}, err
			}
			cfg.Secrets = append(cfg.Secrets, s)
		}
		for _, r := range t.Repositories {
			cfg.Repos = append(cfg.Repos, WatchedRepo{Team: t.Name, URL: r.URL, Branch: r.Branch})
		}
	}
	return cfg, nil
}

func readSecretFile(team, path string) (Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Secret{}, fmt.Errorf("read webhook secret file %s: %w", path, err)
	}
	s := NewSecret(team, b)
	if len(s.value) == 0 {
		return Secret{}, fmt.Errorf("webhook secret file %s: %w", path, ErrEmptySecret)
	}
	return s, nil
}

// compiled is a Config prepared for lookups on the hot path.
type compiled struct {
	secrets []Secret
	// byKey finds watched repositories by their repository key.
	byKey map[repourl.Key][]WatchedRepo
	// byName lists the keys of byKey by owner/name, in config order, for matching a payload's
	// full name.
	byName map[string][]repourl.Key
}

func compile(cfg Config) (*compiled, error) {
	c := &compiled{
		byKey:  make(map[repourl.Key][]WatchedRepo),
		byName: make(map[string][]repourl.Key),
	}
	for _, s := range cfg.Secrets {
		if len(s.value) == 0 {
			return nil, fmt.Errorf("secret of team %q: %w", s.Team, ErrEmptySecret)
		}
		c.secrets = append(c.secrets, s)
	}
	for _, r := range cfg.Repos {
		if r.Branch == "" {
			r.Branch = DefaultBranch
		}
		k, err := repourl.Parse(r.URL)
		if err != nil || k.Local() {
			// A local path or something unparseable: no webhook can name it; polling covers it.
			continue
		}
		if n, ok := k.OwnerName(); ok && len(c.byKey[k]) == 0 {
			c.byName[n] = append(c.byName[n], k)
		}
		c.byKey[k] = append(c.byKey[k], r)
	}
	return c, nil
}
