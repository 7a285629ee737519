// Package clip owns how flyt shortens text it passes on from elsewhere to a bound: a delivery
// ID or event type from a webhook request, a GitHub status description, the body of an
// outbound call's error answer. It cuts on a rune boundary, so the result stays valid UTF-8,
// and marks a cut with "…", so that a reader sees the text goes on. It imports nothing of
// flyt's, so both the webhook receiver and outbound reporting use it.
package clip

// Text shortens s to at most n runes; when it cuts, the last of them is "…". n ≤ 0 gives "".
func Text(s string, n int) string {
	if n <= 0 {
		return ""
	}
	i := 0
	for pos := range s {
		if i == n-1 {
			rest := s[pos:]
			if len([]rune(rest)) <= 1 {
				return s
			}
			return s[:pos] + "…"
		}
		i++
	}
	return s
}
