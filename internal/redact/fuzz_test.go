package redact

import (
	"strings"
	"testing"
	"unicode"
)

// FuzzRedact builds URLs and DSNs around a password from the fuzzer's parts and checks that
// what URL, DSN and Text return never holds the password, however odd the rest is.
func FuzzRedact(f *testing.F) {
	f.Add("https", "x-access-token", "ghp_s3cretvalue", "github.com", "/team/apps.git")
	f.Add("postgres", "flyt", "pa/ss@wo#rd%zz", "db:5432", "/flyt?sslmode=require")
	f.Add("ssh", "git", "s3cret:value", "github.com", "/a/b.git")
	f.Fuzz(func(t *testing.T, scheme, user, password, host, path string) {
		// A password the other parts spell out, or one too short to tell from them, proves
		// nothing; so do parts with characters that end a URL in text (white space, quotes).
		for _, part := range []string{scheme, user, password, host, path} {
			if strings.IndexFunc(part, unicode.IsSpace) >= 0 {
				return
			}
		}
		if len(password) < 6 || strings.ContainsAny(password, " \t\r\n\"'<>`") ||
			strings.Contains("fetch "+scheme+"://"+user+":"+Mask+"@"+host+path+" failed", password) || strings.Contains(password, Mask) {
			return
		}
		if scheme == "" || strings.ContainsAny(scheme, ":/@?# \t\r\n\"'<>`") || strings.ContainsAny(host, "@/?# \t\r\n\"'<>`") ||
			strings.ContainsAny(user, ":@/?# \t\r\n\"'<>`") || !strings.HasPrefix(path, "/") {
			return
		}
		raw := scheme + "://" + user + ":" + password + "@" + host + path
		for name, got := range map[string]string{"URL": URL(raw), "DSN": DSN(raw), "Text": Text("fetch " + raw + " failed")} {
			if strings.Contains(got, password) {
				t.Errorf("%s(%q) = %q holds the password", name, raw, got)
			}
		}
		if !HasCredentials(raw) {
			t.Errorf("HasCredentials(%q) = false", raw)
		}
		if strings.ContainsAny(password, "\\") {
			return
		}
		kw := "host=" + "db user=flyt password='" + strings.ReplaceAll(password, "'", "''") + "' dbname=flyt"
		if got := DSN(kw); strings.Contains(got, password) {
			t.Errorf("DSN(%q) = %q holds the password", kw, got)
		}
	})
}
