package render

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// generator turns one decoded Application into Kubernetes objects for one environment. It
// collects problems instead of stopping at the first, so a team sees them all.
type generator struct {
	app   *Application
	env   *Environment
	image string
	// pos finds a field path in the team's files.
	pos   func(path []string, key bool) (file string, line, col int)
	errs  Errors
	warns []Warning
	// labelSet caches labels.
	labelSet map[string]string
}

func (g *generator) fail(path []string, msg string) {
	file, line, col := g.pos(path, false)
	g.errs = append(g.errs, &Error{File: file, Line: line, Column: col, Path: joinPath(path), Msg: msg})
}

func (g *generator) warnAt(path []string, code WarningCode, msg string) {
	file, line, col := g.pos(path, true)
	g.warns = append(g.warns, Warning{File: file, Line: line, Column: col, Path: joinPath(path), Code: code, Msg: msg})
}

// labels are the Application's own labels plus app and team, which every object carries so
// that people and flyt can find everything an app owns. The objects share one map, made on
// the first call: nothing changes a generated object before it is converted to its own maps.
func (g *generator) labels() map[string]string {
	if g.labelSet == nil {
		g.labelSet = make(map[string]string, len(g.app.Metadata.Labels)+2)
		maps.Copy(g.labelSet, g.app.Metadata.Labels)
		g.labelSet["app"] = g.app.Metadata.Name
		g.labelSet["team"] = g.env.Team
	}
	return g.labelSet
}

func (g *generator) meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: g.env.Namespace, Labels: g.labels()}
}

// objects generates every object of the app, in no particular order (Render sorts).
func (g *generator) objects() []any {
	out := []any{g.serviceAccount(), g.deployment(), g.service()}
	if h := g.autoscaler(); h != nil {
		out = append(out, h)
	}
	if p := g.disruptionBudget(); p != nil {
		out = append(out, p)
	}
	for _, i := range g.ingresses() {
		out = append(out, i)
	}
	out = append(out, g.networkPolicy())
	return out
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:4])
}
