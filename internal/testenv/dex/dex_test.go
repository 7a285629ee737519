package dex_test

import (
	"slices"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/flyt-platform/flyt/internal/testenv/dex"
)

// TestDexIssuesVerifiableIDTokens starts Dex, discovers it with go-oidc, logs a user in with
// the password grant and verifies the ID token against Dex's published keys: what flyt's login
// tests stand on. A wrong password gets no token.
func TestDexIssuesVerifiableIDTokens(t *testing.T) {
	ctx := t.Context()
	srv, err := dex.Start(ctx, dex.Options{
		Dir:     t.TempDir(),
		Users:   []dex.User{{Email: "alice@example.test", Password: "correct horse"}},
		Clients: []dex.Client{{ID: "flyt", Secret: "flyt-test-secret", RedirectURIs: []string{"http://127.0.0.1:1/callback"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)

	provider, err := oidc.NewProvider(ctx, srv.Issuer)
	if err != nil {
		t.Fatalf("discover %s: %v", srv.Issuer, err)
	}
	var claims struct {
		DeviceEndpoint string   `json:"device_authorization_endpoint"`
		GrantTypes     []string `json:"grant_types_supported"`
	}
	if err := provider.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.DeviceEndpoint == "" || !slices.Contains(claims.GrantTypes, "urn:ietf:params:oauth:grant-type:device_code") {
		t.Errorf("discovery offers no device flow: endpoint %q, grants %v", claims.DeviceEndpoint, claims.GrantTypes)
	}

	conf := oauth2.Config{ClientID: "flyt", ClientSecret: "flyt-test-secret", Endpoint: provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "email", "profile"}}
	tok, err := conf.PasswordCredentialsToken(ctx, "alice@example.test", "correct horse")
	if err != nil {
		t.Fatalf("password grant: %v", err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok {
		t.Fatal("the token response has no id_token")
	}
	idToken, err := provider.Verifier(&oidc.Config{ClientID: "flyt"}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("verify the ID token: %v", err)
	}
	var who struct {
		Email    string `json:"email"`
		Verified bool   `json:"email_verified"`
		Name     string `json:"name"`
	}
	if err := idToken.Claims(&who); err != nil {
		t.Fatal(err)
	}
	if who.Email != "alice@example.test" || who.Name != "alice" {
		t.Errorf("ID token names %+v, want alice@example.test, alice", who)
	}
	if _, err := provider.Verifier(&oidc.Config{ClientID: "another-client"}).Verify(ctx, raw); err == nil {
		t.Error("an ID token for flyt verified for another audience")
	}

	if _, err := conf.PasswordCredentialsToken(ctx, "alice@example.test", "wrong"); err == nil {
		t.Error("a wrong password got a token")
	}
}

// TestPathIsWhereTheScriptBuilds checks Path against hack/dex.sh's rule: $FLYT_DEX, else
// $FLYT_DEX_CACHE/<DEX_VERSION>/dex.
func TestPathIsWhereTheScriptBuilds(t *testing.T) {
	t.Setenv("FLYT_DEX", "/elsewhere/dex")
	if got, err := dex.Path(); err != nil || got != "/elsewhere/dex" {
		t.Errorf("Path with FLYT_DEX = %q, %v", got, err)
	}
	t.Setenv("FLYT_DEX", "")
	t.Setenv("FLYT_DEX_CACHE", "/cache")
	if got, err := dex.Path(); err != nil || got != "/cache/v2.45.1/dex" {
		t.Errorf("Path with FLYT_DEX_CACHE = %q, %v; want /cache/v2.45.1/dex (versions.env)", got, err)
	}
}
