package report

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/flyt-platform/flyt/internal/redact"
)

// TokenSource gives the token for the next GitHub call, as a redact.Secret so that it prints
// and logs as REDACTED. Implementations cache and refresh as they need; Token is called once
// per call, not once per retry.
type TokenSource interface {
	Token(ctx context.Context) (redact.Secret, error)
}

// ErrEmptyToken reports a token file without content.
var ErrEmptyToken = errors.New("GitHub token is empty")

// StaticToken reads a personal access or fine-grained token from path. The file is read on
// every call, so a rotated token is picked up without a restart.
func StaticToken(path string) TokenSource { return staticToken(path) }

type staticToken string

// Token reads the token file afresh.
func (s staticToken) Token(context.Context) (redact.Secret, error) {
	b, err := os.ReadFile(string(s))
	if err != nil {
		return redact.Secret{}, fmt.Errorf("read GitHub token file %s: %w", string(s), err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return redact.Secret{}, fmt.Errorf("GitHub token file %s: %w", string(s), ErrEmptyToken)
	}
	return redact.NewSecret(t), nil
}

// AppTokenOptions configure authentication as a GitHub App installation.
type AppTokenOptions struct {
	// AppID is the GitHub App's id; the JWT's issuer.
	AppID int64
	// InstallationID is the installation on the organisation that owns the team repositories.
	InstallationID int64
	// PrivateKeyPEM is the App's RSA private key (PKCS #1 or PKCS #8 PEM, as GitHub hands it out).
	PrivateKeyPEM []byte
	// APIURL defaults to https://api.github.com.
	APIURL string
	// HTTPClient carries the token requests. Default: a client with a 30 s timeout.
	HTTPClient *http.Client
	// Retry bounds retrying a token request.
	Retry RetryOptions
	// Metrics counts token requests as operation create_installation_token.
	Metrics *Metrics
	// Now is the clock for the JWT and for token expiry. Default time.Now.
	Now func() time.Time
}

// AppToken is a TokenSource for a GitHub App installation: it signs a short-lived RS256 JWT
// with the App's key, exchanges it for an installation token and caches that token until five
// minutes before it expires (installation tokens live one hour).
type AppToken struct {
	appID, installationID int64
	key                   *rsa.PrivateKey
	apiURL                string
	client                *retryablehttp.Client
	retry                 RetryOptions
	metrics               *Metrics
	now                   func() time.Time

	// Guards the fields below.
	mu      sync.Mutex
	token   redact.Secret
	expires time.Time
}

var _ TokenSource = (*AppToken)(nil)

// ErrBadPrivateKey reports an App private key that is not an RSA key in PEM.
var ErrBadPrivateKey = errors.New("GitHub App private key is not an RSA key in PEM")

// appTokenRefreshBefore is how long before expiry a cached installation token is replaced,
// so that no call starts with a token about to lapse.
const appTokenRefreshBefore = 5 * time.Minute

// NewAppToken parses the App's key and returns an AppToken.
func NewAppToken(opts AppTokenOptions) (*AppToken, error) {
	key, err := parseRSAKey(opts.PrivateKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("new GitHub App token source: %w", err)
	}
	if opts.APIURL == "" {
		opts.APIURL = DefaultGitHubAPIURL
	}
	if opts.Metrics == nil {
		opts.Metrics = newMetrics()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.Retry = opts.Retry.withDefaults()
	return &AppToken{
		appID:          opts.AppID,
		installationID: opts.InstallationID,
		key:            key,
		apiURL:         strings.TrimRight(opts.APIURL, "/"),
		client:         newRetryClient(opts.HTTPClient, opts.Retry),
		retry:          opts.Retry,
		metrics:        opts.Metrics,
		now:            opts.Now,
	}, nil
}

// AppTokenFromFile reads the private key from path and calls NewAppToken.
func AppTokenFromFile(path string, opts AppTokenOptions) (*AppToken, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read GitHub App private key %s: %w", path, err)
	}
	opts.PrivateKeyPEM = b
	return NewAppToken(opts)
}

func parseRSAKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, ErrBadPrivateKey
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, ErrBadPrivateKey
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, ErrBadPrivateKey
	}
	return rk, nil
}

// Token returns the cached installation token, or a new one when the cached one expires
// within five minutes.
func (a *AppToken) Token(ctx context.Context) (redact.Secret, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if !a.token.Empty() && now.Before(a.expires.Add(-appTokenRefreshBefore)) {
		return a.token, nil
	}
	jwt, err := a.jwt(now)
	if err != nil {
		return redact.Secret{}, err
	}
	path := "/app/installations/" + strconv.FormatInt(a.installationID, 10) + "/access_tokens"
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, a.apiURL+path, []byte{})
	if err != nil {
		return redact.Secret{}, fmt.Errorf("build installation token request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+jwt)
	setGitHubHeaders(req)
	body, _, err := do(ctx, a.client, a.retry, req, opInstallationToken, "POST "+path)
	a.metrics.GitHubRequests.WithLabelValues(opInstallationToken, string(resultOf(err))).Inc()
	if err != nil {
		return redact.Secret{}, fmt.Errorf("get GitHub App installation token: %w", err)
	}
	var out struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Token == "" {
		return redact.Secret{}, fmt.Errorf("get GitHub App installation token: %w", &CallError{
			Operation: opInstallationToken, Target: "POST " + path, Result: ResultRejected, Message: "answer has no token",
		})
	}
	a.token, a.expires = redact.NewSecret(out.Token), out.ExpiresAt
	return a.token, nil
}

// jwt signs the App's JWT: issued a minute in the past against clock drift, expiring after
// nine minutes (GitHub allows ten).
func (a *AppToken) jwt(now time.Time) (string, error) {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	claims, err := json.Marshal(struct {
		IAT int64  `json:"iat"`
		EXP int64  `json:"exp"`
		ISS string `json:"iss"`
	}{now.Add(-time.Minute).Unix(), now.Add(9 * time.Minute).Unix(), strconv.FormatInt(a.appID, 10)})
	if err != nil {
		return "", fmt.Errorf("encode GitHub App JWT claims: %w", err)
	}
	signing := header + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, a.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign GitHub App JWT: %w", err)
	}
	return signing + "." + enc.EncodeToString(sig), nil
}

// LogValue keeps the App's key and token out of logs.
func (a *AppToken) LogValue() slog.Value {
	return slog.GroupValue(slog.Int64("appID", a.appID), slog.Int64("installationID", a.installationID), slog.String("key", "REDACTED"))
}

func setGitHubHeaders(req *retryablehttp.Request) {
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	req.Header.Set("User-Agent", "flyt")
}

func resultOf(err error) Result {
	switch {
	case err == nil:
		return ResultSuccess
	case errors.Is(err, ErrRejected):
		return ResultRejected
	default:
		return ResultGaveUp
	}
}

// jsonBody encodes v for a request body.
func jsonBody(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
