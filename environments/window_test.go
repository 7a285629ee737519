package environments

import (
	"strings"
	"testing"
	"time"
)

func TestWindowOpen(t *testing.T) {
	oslo, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	weekend := []Window{{Action: "deny", Start: "Fri 15:00", End: "Mon 07:00"}}
	office := []Window{{Action: "allow", Days: []string{"Mon-Fri"}, Start: "08:00", End: "16:00", TimeZone: "UTC"}}
	tests := []struct {
		name    string
		windows []Window
		now     string
		open    bool
		next    string // RFC 3339; empty for zero
		reason  string // substring
	}{
		{name: "no windows", now: "2026-11-21T12:00:00Z", open: true},
		{name: "before weekend", windows: weekend, now: "2026-11-20T14:59:00+01:00", open: true},
		{name: "weekend starts", windows: weekend, now: "2026-11-20T15:00:00+01:00", next: "2026-11-23T07:00:00+01:00", reason: "inside deny window deny Fri 15:00–Mon 07:00 Europe/Oslo"},
		{name: "weekend last minute", windows: weekend, now: "2026-11-23T06:59:59+01:00", next: "2026-11-23T07:00:00+01:00"},
		{name: "weekend over", windows: weekend, now: "2026-11-23T07:00:00+01:00", open: true},
		{name: "outside allow window", windows: office, now: "2026-11-21T12:00:00Z", next: "2026-11-23T08:00:00Z", reason: "outside the allow windows (allow Mon-Fri 08:00–16:00 UTC)"},
		{name: "after office hours", windows: office, now: "2026-11-24T16:00:00Z", next: "2026-11-25T08:00:00Z"},
		{name: "inside allow window", windows: office, now: "2026-11-24T15:59:00Z", open: true},
		{
			name:    "deny wins over allow",
			windows: []Window{{Action: "allow"}, {Action: "deny", Start: "12:00", End: "13:00", TimeZone: "UTC"}},
			now:     "2026-11-24T12:30:00Z", next: "2026-11-24T13:00:00Z",
		},
		{
			name:    "deny across midnight, evening",
			windows: []Window{{Action: "deny", Start: "22:00", End: "06:00", TimeZone: "UTC"}},
			now:     "2026-11-24T23:00:00Z", next: "2026-11-25T06:00:00Z",
		},
		{
			name:    "deny across midnight, morning",
			windows: []Window{{Action: "deny", Start: "22:00", End: "06:00", TimeZone: "UTC"}},
			now:     "2026-11-25T05:00:00Z", next: "2026-11-25T06:00:00Z",
		},
		{
			name:    "deny window on a day reaching into the next",
			windows: []Window{{Action: "deny", Days: []string{"Tuesday"}, Start: "22:00", End: "02:00", TimeZone: "UTC"}},
			now:     "2026-11-25T01:00:00Z", next: "2026-11-25T02:00:00Z",
		},
		{
			name:    "never opens",
			windows: []Window{{Action: "deny"}},
			now:     "2026-11-25T01:00:00Z",
		},
		{
			// 2026-03-29 in Oslo: 02:00 CET jumps to 03:00 CEST, so 02:30 never happens and the
			// deny window ends when the clocks jump.
			name:    "spring forward skips the end of a window",
			windows: []Window{{Action: "deny", Start: "01:00", End: "02:30"}},
			now:     "2026-03-29T01:30:00+01:00", next: "2026-03-29T03:00:00+02:00",
		},
		{
			// 07:00Z is 09:00 CEST, inside the window (it would be 08:00 in winter time).
			name:    "spring forward: window in local time",
			windows: []Window{{Action: "allow", Start: "08:00", End: "16:00"}},
			now:     "2026-03-29T07:00:00Z", open: true,
		},
		{
			name:    "spring forward: held before the allow window, released at local 08:00",
			windows: []Window{{Action: "allow", Start: "08:00", End: "16:00"}},
			now:     "2026-03-29T05:00:00Z", next: "2026-03-29T08:00:00+02:00",
		},
		{
			// 2026-10-25 in Oslo: 03:00 CEST goes back to 02:00 CET, so 02:00–02:30 happens twice.
			name:    "fall back, first pass",
			windows: []Window{{Action: "deny", Start: "02:00", End: "02:30"}},
			now:     "2026-10-25T02:15:00+02:00", next: "2026-10-25T02:30:00+02:00",
		},
		{
			name:    "fall back, second pass",
			windows: []Window{{Action: "deny", Start: "02:00", End: "02:30"}},
			now:     "2026-10-25T02:15:00+01:00", next: "2026-10-25T02:30:00+01:00",
		},
		{
			name:    "invalid window built by hand is closed",
			windows: []Window{{Action: "sometimes"}},
			now:     "2026-10-25T02:15:00+01:00", reason: `windows[0].action: "sometimes" is not an action`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &Environment{Name: "prod", Windows: tt.windows}
			open, reason, next := e.WindowOpen(at(tt.now))
			if open != tt.open {
				t.Fatalf("open = %v (%s), want %v", open, reason, tt.open)
			}
			var wantNext time.Time
			if tt.next != "" {
				wantNext = at(tt.next)
			}
			if !next.Equal(wantNext) {
				t.Errorf("next = %v, want %v", next.In(oslo), wantNext.In(oslo))
			}
			if !strings.Contains(reason, tt.reason) {
				t.Errorf("reason = %q, want it to contain %q", reason, tt.reason)
			}
			if open && reason != "" {
				t.Errorf("an open environment gives no reason, got %q", reason)
			}
		})
	}
}

func BenchmarkWindowOpenClosed(b *testing.B) {
	e := &Environment{Windows: []Window{
		{Action: "deny", Start: "Fri 15:00", End: "Mon 07:00"},
		{Action: "allow", Days: []string{"Mon-Fri"}, Start: "07:00", End: "17:00"},
	}}
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	for b.Loop() {
		e.WindowOpen(now)
	}
}
