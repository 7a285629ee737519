// Package redact removes credentials from the URLs and connection strings flyt shows: in logs,
// errors, API answers, the UI, history exports and webhook answers. It is the one place that
// knows what a credential in a URL looks like, so that config validation (which refuses such
// URLs) and every display of one (which hides what slipped through, such as history rows
// recorded before validation refused them) agree. Its Secret type is the one way flyt holds a
// token in memory (Git tokenFiles, GitHub tokens and App installation tokens): it shows Mask
// however it is printed, logged or encoded.
//
// Everything here works on the text, not through url.Parse: the URLs that most need hiding
// are often the ones url.Parse rejects (a password with a stray '%' or '#'), and its errors
// quote the whole URL.
package redact

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
)

// Mask replaces a credential in what this package returns.
const Mask = "REDACTED"

// URL returns raw with its credentials replaced by Mask, so that it can be shown:
//
//   - the user info of an http(s) URL, whole (a token may be the user name alone, as GitHub
//     accepts), as in https://REDACTED@github.com/team/apps.git;
//   - the user info of any other URL (ssh://, scp-like git@host:owner/name) when it has a
//     password or its user name looks like a token; a plain SSH user such as git stays;
//   - the value of a password, token or access_token query parameter.
//
// Anything else, local paths included, comes back unchanged.
func URL(raw string) string {
	scheme, rest, hasScheme := strings.Cut(raw, "://")
	if !hasScheme {
		// scp-like user@host:path; a path with an '@' in a folder name is not one.
		at := strings.IndexByte(raw, '@')
		if at <= 0 || strings.ContainsAny(raw[:at], "/\\") {
			return raw
		}
		user := raw[:at]
		if strings.Contains(user, ":") {
			// A password may hold '@' itself; the host follows the last one.
			return Mask + raw[strings.LastIndexByte(raw, '@'):]
		}
		if TokenLike(user) {
			return Mask + raw[at:]
		}
		return raw
	}
	user, hostAndTail, ok := splitUserinfo(rest)
	if !ok {
		return scheme + "://" + secretParams(rest)
	}
	web := strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https")
	if web || strings.Contains(user, ":") || TokenLike(user) {
		user = Mask
	}
	return scheme + "://" + user + "@" + secretParams(hostAndTail)
}

// splitUserinfo splits what follows "scheme://" at the '@' that ends its user info. A
// password may hold any character unescaped ('@', '?', '#', even '/'), so where the part
// before the first '/' has a ':' (a password, or a port) and an '@' follows anywhere, the user
// info ends at the last '@' of all (https://u:pa/ss@host/x); otherwise at the last '@' before
// the first '/'. That may hide more than the user info of an odd URL, never less.
func splitUserinfo(rest string) (user, hostAndTail string, ok bool) {
	end := strings.IndexByte(rest, '/')
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndexByte(rest[:end], '@')
	if colon := strings.IndexByte(rest[:end], ':'); colon >= 0 && (at < 0 || colon < at) {
		at = max(at, strings.LastIndexByte(rest, '@'))
	}
	if at < 0 {
		return "", rest, false
	}
	return rest[:at], rest[at+1:], true
}

// HasCredentials reports whether raw carries a credential that URL would hide. Config
// validation refuses such a URL: the credential belongs in a file (tokenFile, sshKeyFile).
func HasCredentials(raw string) bool { return URL(raw) != raw }

// TokenLike reports whether a user name looks like an access token rather than a user: a
// known token prefix (GitHub's ghp_, gho_, ghu_, ghs_, ghr_, github_pat_; GitLab's glpat-),
// or 20 or more characters mixing letters and digits with no separator a name would have.
func TokenLike(user string) bool {
	for _, p := range []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-"} {
		if strings.HasPrefix(user, p) {
			return true
		}
	}
	return longToken.MatchString(user) && strings.ContainsAny(user, "0123456789") &&
		strings.ContainsAny(strings.ToLower(user), "abcdefghijklmnopqrstuvwxyz")
}

var longToken = regexp.MustCompile(`^[A-Za-z0-9_+/=]{20,}$`)

// secretQuery finds a password or token query parameter's value.
var secretQuery = regexp.MustCompile(`(?i)([?&](?:password|token|access_token)=)[^&#]*`)

func secretParams(tail string) string {
	return secretQuery.ReplaceAllString(tail, "${1}"+Mask)
}

// DSN returns a history store DSN with its password replaced by Mask, keeping the user name
// (which a connection error names anyway and which helps to fix it):
//
//   - postgres://flyt:s3cret@db/flyt → postgres://flyt:REDACTED@db/flyt, and a password query
//     parameter likewise;
//   - the keyword form host=db user=flyt password=s3cret → host=db user=flyt password=REDACTED,
//     a quoted value (password='two words') included.
//
// A SQLite path comes back unchanged.
func DSN(dsn string) string {
	if scheme, rest, ok := strings.Cut(dsn, "://"); ok {
		userinfo, hostAndTail, ok := splitUserinfo(rest)
		if !ok {
			return scheme + "://" + secretParams(rest)
		}
		if user, _, hasPass := strings.Cut(userinfo, ":"); hasPass {
			userinfo = user + ":" + Mask
		}
		return scheme + "://" + userinfo + "@" + secretParams(hostAndTail)
	}
	return keywordPassword.ReplaceAllString(dsn, "${1}"+Mask)
}

// keywordPassword finds the value of password in a keyword/value connection string: a quoted
// value (with \' or ” inside) or everything up to the next space.
var keywordPassword = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)(?:'(?:[^'\\]|\\.|'')*'?|\S*)`)

// Text returns s with every URL in it passed through URL and every password=… through DSN's
// keyword rule, for text that may quote one: a library's error, a YAML value shown in a
// message.
func Text(s string) string {
	s = urlInText.ReplaceAllStringFunc(s, URL)
	s = scpInText.ReplaceAllStringFunc(s, URL)
	return keywordPassword.ReplaceAllString(s, "${1}"+Mask)
}

var (
	// Anything around a "://" is taken for a URL, a scheme that is not one (0://…) included:
	// URL hides the user info of whatever it is given.
	urlInText = regexp.MustCompile(`[^\s"'<>` + "`" + `]*://[^\s"'<>` + "`" + `]+`)
	scpInText = regexp.MustCompile(`[^\s"'<>/@` + "`" + `]+@[A-Za-z0-9.-]+:[^\s"'<>` + "`" + `]*`)
)

// URLProblem says why url.Parse refuses raw, in words that quote none of its credentials
// (url.Parse's own error quotes the whole URL, and a bad escape quotes part of the password).
// It returns "" when raw parses.
func URLProblem(raw string) string {
	if _, err := url.Parse(raw); err == nil {
		return ""
	}
	var ue *url.Error
	if _, err := url.Parse(DSN(URL(raw))); err != nil && errors.As(err, &ue) {
		// The fault is outside the user info, and the text parsed holds no credential.
		return ue.Err.Error()
	}
	return "the user name or password has a character that must be percent-encoded in a URL (such as @ : / ? # % or a space); encode it, or keep the password out of the URL"
}
