package redact

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestSecretNeverShows shows a Secret, alone and inside a struct, every way flyt's code
// might by mistake: each must show Mask and never the value.
func TestSecretNeverShows(t *testing.T) {
	const value = "ghp_supersecret0123456789"
	s := NewSecret(value)
	holder := struct {
		Name  string
		Token Secret
	}{"repo", s}

	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("auth", "token", s, "holder", holder)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("auth", "token", s, "holder", holder)
	jsonOut, err := json.Marshal(holder)
	if err != nil {
		t.Fatal(err)
	}
	yamlOut, err := yaml.Marshal(holder)
	if err != nil {
		t.Fatal(err)
	}
	shown := map[string]string{
		"slog text": text.String(),
		"slog JSON": js.String(),
		"json":      string(jsonOut),
		"yaml":      string(yamlOut),
		"error":     fmt.Errorf("fetch with %v: %w", s, errors.New("denied")).Error(),
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s"} {
		shown["fmt "+verb] = fmt.Sprintf(verb, s)
		shown["fmt "+verb+" in a struct"] = fmt.Sprintf(verb, holder)
		shown["fmt "+verb+" by pointer"] = fmt.Sprintf(verb, &holder)
	}
	for how, out := range shown {
		if strings.Contains(out, value) || strings.Contains(out, "supersecret") {
			t.Errorf("%s shows the value: %q", how, out)
		}
		if !strings.Contains(out, Mask) {
			t.Errorf("%s shows no %s: %q", how, Mask, out)
		}
	}
}

func TestSecretReveal(t *testing.T) {
	if got := NewSecret("tok").Reveal(); got != "tok" {
		t.Errorf("Reveal() = %q, want tok", got)
	}
	if !(Secret{}).Empty() || NewSecret("tok").Empty() {
		t.Errorf("Empty: zero Secret %v, set Secret %v; want true, false", (Secret{}).Empty(), NewSecret("tok").Empty())
	}
}
