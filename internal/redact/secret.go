package redact

import (
	"fmt"
	"log/slog"
)

// Secret is a credential flyt holds in memory to send somewhere: a Git access token read from
// a tokenFile, a GitHub token or App installation token. Every way of showing it shows Mask
// instead (fmt with any verb, slog, encoding/json, encoding.TextMarshaler users such as YAML
// encoders), so a Secret passed to a logger, an error or an API answer by mistake leaks
// nothing. Only Reveal gives the value, and only the code that puts it on the wire calls it.
//
// It is a struct rather than a string type so that a conversion (string(s)) cannot reveal it
// by accident; the zero Secret is empty.
type Secret struct{ value string }

// NewSecret wraps a credential's value.
func NewSecret(value string) Secret { return Secret{value: value} }

// Reveal returns the credential itself, for the one place that sends it (an Authorization
// header, a Git transport's basic auth) or must scrub it from a library's error.
func (s Secret) Reveal() string { return s.value }

// Empty reports whether the Secret holds no value.
func (s Secret) Empty() bool { return s.value == "" }

// String shows Mask, for fmt's %s and %v and anything else that asks a fmt.Stringer.
func (Secret) String() string { return Mask }

// GoString shows the type and Mask, for code that asks a fmt.GoStringer directly.
func (Secret) GoString() string { return "redact.Secret(" + Mask + ")" }

// Format shows Mask for every verb and flag, so that none (%d, %x, %+v on a struct holding a
// Secret) can print the field inside; %#v shows GoString.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = f.Write([]byte(s.GoString()))
		return
	}
	_, _ = f.Write([]byte(Mask))
}

// LogValue shows Mask in structured logs.
func (Secret) LogValue() slog.Value { return slog.StringValue(Mask) }

// MarshalJSON encodes Mask as a JSON string.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Mask + `"`), nil }

// MarshalText gives Mask to text encoders (YAML, JSON map keys, slog's text handler).
func (Secret) MarshalText() ([]byte, error) { return []byte(Mask), nil }
