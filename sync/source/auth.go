package source

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/internal/redact"
)

// DefaultUsername is the basic-auth user sent with a token when the repository names none;
// GitHub accepts any non-empty user with an installation or personal access token.
const DefaultUsername = "x-access-token"

// credentials is what one operation authenticates with, plus the secrets to scrub from any
// error it returns.
type credentials struct {
	auth    transport.AuthMethod
	secrets []string
}

// readToken reads a token file; it is read again at every use so that a rotated token takes
// effect without a restart. The token is a redact.Secret, so it prints and logs as REDACTED.
func readToken(path string) (redact.Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return redact.Secret{}, fmt.Errorf("%w: read token file: %w", ErrConfig, err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return redact.Secret{}, fmt.Errorf("%w: token file %s is empty", ErrConfig, path)
	}
	return redact.NewSecret(tok), nil
}

// authFor builds the credentials for repo's URL: a token as basic auth for HTTP(S), a key
// file checked against known_hosts for SSH, nothing for local paths. Secrets embedded in the
// URL's user info are collected for scrubbing too.
func authFor(repo environments.Repository) (credentials, error) {
	var creds credentials
	if u, err := url.Parse(repo.URL); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			creds.secrets = append(creds.secrets, p)
		}
	}
	ep, err := transport.NewEndpoint(repo.URL)
	if err != nil {
		return creds, fmt.Errorf("%w: parse repository URL: %w", ErrConfig, err)
	}
	switch ep.Protocol {
	case "http", "https":
		if repo.TokenFile == "" {
			return creds, nil
		}
		tok, err := readToken(repo.TokenFile)
		if err != nil {
			return creds, err
		}
		user := repo.Username
		if user == "" {
			user = DefaultUsername
		}
		creds.secrets = append(creds.secrets, tok.Reveal())
		creds.auth = &githttp.BasicAuth{Username: user, Password: tok.Reveal()}
		return creds, nil
	case "ssh":
		if repo.SSHKeyFile == "" {
			return creds, fmt.Errorf("%w: an ssh URL needs sshKeyFile", ErrConfig)
		}
		if repo.KnownHostsFile == "" {
			return creds, fmt.Errorf("%w: an ssh URL needs knownHostsFile: flyt never trusts an unknown host key", ErrConfig)
		}
		if _, err := os.Stat(repo.KnownHostsFile); err != nil {
			return creds, fmt.Errorf("%w: read known_hosts: %w", ErrConfig, err)
		}
		user := ep.User
		if user == "" {
			user = "git"
		}
		keys, err := gitssh.NewPublicKeysFromFile(user, repo.SSHKeyFile, "")
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return creds, fmt.Errorf("%w: read ssh key: %w", ErrConfig, err)
			}
			return creds, fmt.Errorf("%w: load ssh key: %w", ErrConfig, err)
		}
		db, err := gitssh.NewKnownHostsDb(repo.KnownHostsFile)
		if err != nil {
			return creds, fmt.Errorf("%w: load known_hosts: %w", ErrConfig, err)
		}
		keys.HostKeyCallback = db.HostKeyCallback()
		keys.HostKeyAlgorithms = db.HostKeyAlgorithms(hostPort(ep))
		creds.auth = keys
		return creds, nil
	case "file":
		return creds, nil
	default:
		return creds, fmt.Errorf("%w: unsupported URL scheme %q", ErrConfig, ep.Protocol)
	}
}

// hostPort is the "host:port" known_hosts entries are looked up by.
func hostPort(ep *transport.Endpoint) string {
	port := ep.Port
	if port == 0 {
		port = 22
	}
	return fmt.Sprintf("%s:%d", ep.Host, port)
}
