package yamlpos

import "strings"

// Suggest returns the known name a person most likely meant by name, or "" when none is close:
// it is flyt's one did-you-mean rule, for unknown fields here, in render's Application spec and
// .flyt.yaml, and for undefined template variables. A name that is known itself gets no
// suggestion. In order of preference it takes:
//
//   - a name that differs only in case (replyUrls → replyURLs);
//   - the name fewest edits away, ignoring case: one inserted, deleted or replaced character
//     always counts, two only when both names are longer than two (imgae → image, hots → host,
//     ingress → ingresses).
//
// It does not offer a known name only because one starts with the other (render's field
// decoder once did): every such suggestion a test asserts is within two edits anyway, and for
// templates it would turn clusterNme into "did you mean cluster?".
//
// Ties go to the name that sorts first, so the answer does not depend on the order of known.
func Suggest(name string, known []string) string {
	if s := pick(name, known, func(k string) (int, bool) { return 0, strings.EqualFold(k, name) }); s != "" {
		return s
	}
	lower := strings.ToLower(name)
	return pick(name, known, func(k string) (int, bool) {
		d := distance(lower, strings.ToLower(k))
		return d, d == 1 || d == 2 && d < len(name) && d < len(k)
	})
}

// pick returns the known name other than name that match accepts with the lowest score, ties
// to the one that sorts first.
func pick(name string, known []string, match func(k string) (score int, ok bool)) string {
	best, bestScore := "", 0
	for _, k := range known {
		if k == name {
			continue
		}
		score, ok := match(k)
		if ok && (best == "" || score < bestScore || score == bestScore && k < best) {
			best, bestScore = k, score
		}
	}
	return best
}

// distance is the Levenshtein edit distance between a and b, in bytes.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
