package api

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flyt-platform/flyt/history"
)

//go:embed ui/templates/*.html ui/static/*
var uiFiles embed.FS

// ui renders the web pages. Every page is a template set of layout.html plus its own file.
type ui struct {
	pages map[string]*template.Template
}

// uiPages are the page templates, each parsed with layout.html.
var uiPages = []string{"matrix", "app", "deploy", "dora", "error"}

func newUI() *ui {
	u := &ui{pages: map[string]*template.Template{}}
	for _, p := range uiPages {
		t := template.New("layout.html").Funcs(template.FuncMap{
			"short":      short,
			"stateClass": stateClass,
			"stateLabel": stateLabel,
			"rfc3339":    func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
			"when":       func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
			"dur":        humanDuration,
			"pct":        func(f float64) string { return strconv.FormatFloat(f*100, 'f', 1, 64) + " %" },
			"perDay":     func(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) },
			"objectKind": objectKind,
		})
		u.pages[p] = template.Must(t.ParseFS(uiFiles, "ui/templates/layout.html", "ui/templates/"+p+".html"))
	}
	return u
}

// register adds the UI routes to mux.
func (u *ui) register(s *Server, mux *http.ServeMux) {
	static, err := fs.Sub(uiFiles, "ui/static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", s.matrixPage)
	mux.HandleFunc("GET /apps/{app}", s.appPage)
	mux.HandleFunc("GET /deploys/{id}", s.deployPage)
	mux.HandleFunc("GET /dora", s.doraPage)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.render(w, r, http.StatusNotFound, "error", page{Title: "Not found", Data: "There is no page at " + r.URL.Path + "."})
	})
}

// page is what every template gets: the layout's fields and the page's own Data.
type page struct {
	Title string
	// Nav marks the current section in the header.
	Nav  string
	Now  time.Time
	Base string
	// Refresh reloads the page every so many seconds when set: pages that show work in
	// progress stay current without JavaScript.
	Refresh int
	Data    any
}

// render executes a page into a buffer first, so a template error becomes a clean 500.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.Now = s.opts.Now()
	p.Base = s.opts.ExternalURL
	var buf bytes.Buffer
	if err := s.ui.pages[name].ExecuteTemplate(&buf, "layout.html", p); err != nil {
		s.opts.Log.ErrorContext(r.Context(), "render UI page", "page", name, "error", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // the client went away; nothing to do
}

// failPage shows err on an error page with the status its kind calls for.
func (s *Server) failPage(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	msg := err.Error()
	if status == http.StatusInternalServerError {
		s.opts.Log.ErrorContext(r.Context(), "UI request failed", "path", r.URL.Path, "error", err)
		msg = "Something went wrong; the flyt server log has the details."
	}
	s.render(w, r, status, "error", page{Title: http.StatusText(status), Data: msg})
}

// matrixCell is one (app, environment) of the matrix; nil when the app never deployed there.
type matrixCell struct {
	Env     string
	Running *history.Deploy
	Latest  *history.Deploy
	// Held is automatic work waiting here (for a window, an unfreeze or an operator).
	Held *Held
}

// matrixRow is one app of the matrix.
type matrixRow struct {
	App   string
	Team  string
	Cells []*matrixCell
}

// envHead is one column of the matrix.
type envHead struct {
	Name         string
	Feeding      string
	Frozen       bool
	FrozenReason string
}

type matrixData struct {
	Team  string
	Teams []string
	Envs  []envHead
	Rows  []matrixRow
}

func (s *Server) matrixPage(w http.ResponseWriter, r *http.Request) {
	team := r.URL.Query().Get("team")
	all, err := s.opts.Store.Current(r.Context(), history.Filter{})
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	d := matrixData{Team: team}
	for _, c := range all {
		if !slices.Contains(d.Teams, c.Team) {
			d.Teams = append(d.Teams, c.Team)
		}
	}
	slices.Sort(d.Teams)
	p := s.opts.Platform()
	frozen, err := s.frozen(r.Context())
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	names := s.envOrder(p, all)
	for _, n := range names {
		h := envHead{Name: n}
		if p != nil {
			if e := p.Environment(n); e != nil {
				h.Feeding = feeding(e)
			}
		}
		f, isFrozen := frozen[n]
		h.FrozenReason, h.Frozen = f.Reason, isFrozen
		d.Envs = append(d.Envs, h)
	}
	held := s.heldByKey()
	rows := map[string]*matrixRow{}
	var order []string
	for _, c := range all {
		if team != "" && c.Team != team {
			continue
		}
		row, ok := rows[c.App]
		if !ok {
			row = &matrixRow{App: c.App, Team: c.Team, Cells: make([]*matrixCell, len(names))}
			rows[c.App] = row
			order = append(order, c.App)
		}
		i := slices.Index(names, c.Environment)
		cell := &matrixCell{Env: c.Environment, Running: c.LastSuccess, Latest: c.Latest}
		if h, ok := held[Key{App: c.App, Environment: c.Environment}]; ok {
			cell.Held = &h
		}
		row.Cells[i] = cell
	}
	for _, a := range order {
		d.Rows = append(d.Rows, *rows[a])
	}
	s.render(w, r, http.StatusOK, "matrix", page{Title: "Applications", Nav: "matrix", Refresh: 30, Data: d})
}

type appData struct {
	Status  *AppStatus
	Deploys []*history.DeployDetail
	More    bool
}

// appTimeline is how many deploys the app page shows.
const appTimeline = 50

func (s *Server) appPage(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	st, err := s.buildAppStatus(r, app)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	pg, err := s.opts.Store.List(r.Context(), history.Filter{App: app, Environment: r.URL.Query().Get("env"), Limit: appTimeline})
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	d := appData{Status: st, More: pg.Next != ""}
	for _, dep := range pg.Deploys {
		det, err := s.opts.Store.Get(r.Context(), dep.ID)
		if err != nil {
			s.failPage(w, r, err)
			return
		}
		d.Deploys = append(d.Deploys, det)
	}
	s.render(w, r, http.StatusOK, "app", page{Title: app, Nav: "matrix", Data: d})
}

func (s *Server) deployPage(w http.ResponseWriter, r *http.Request) {
	id, err := parseID(r)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	d, err := s.opts.Store.Get(r.Context(), id)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	p := page{Title: fmt.Sprintf("Deploy #%d: %s in %s", d.ID, d.App, d.Environment), Nav: "matrix", Data: d}
	if !d.State.Terminal() {
		p.Refresh = 5
	}
	s.render(w, r, http.StatusOK, "deploy", p)
}

// doraTeam is one team's figures on the DORA page.
type doraTeam struct {
	Team  string
	DORA  history.DORA
	Chart chart
}

type doraData struct {
	Days    int
	Windows []int
	Env     string
	Envs    []string
	All     doraTeam
	Teams   []doraTeam
}

// doraWindows are the window lengths the DORA page offers, in days.
var doraWindows = []int{7, 30, 90}

func (s *Server) doraPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	days := 30
	if v := q.Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 366 {
			s.failPage(w, r, &badRequest{fmt.Sprintf("parameter days: %q is not a number of days between 1 and 366", v)})
			return
		}
		days = n
	}
	env := q.Get("env")
	until := s.opts.Now()
	since := until.Add(-time.Duration(days) * 24 * time.Hour)
	cur, err := s.opts.Store.Current(r.Context(), history.Filter{})
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	d := doraData{Days: days, Windows: doraWindows, Env: env, Envs: s.envOrder(s.opts.Platform(), cur)}
	var teams []string
	if p := s.opts.Platform(); p != nil {
		for _, t := range p.Teams {
			teams = append(teams, t.Name)
		}
	}
	for _, c := range cur {
		if !slices.Contains(teams, c.Team) {
			teams = append(teams, c.Team)
		}
	}
	slices.Sort(teams)
	one := func(team string) (doraTeam, error) {
		m, err := s.opts.Store.DORA(r.Context(), history.DORAFilter{Team: team, Environment: env, Since: since, Until: until})
		if err != nil {
			return doraTeam{}, err
		}
		return doraTeam{Team: team, DORA: m, Chart: dayChart(m.Days)}, nil
	}
	if d.All, err = one(""); err != nil {
		s.failPage(w, r, err)
		return
	}
	for _, t := range teams {
		dt, err := one(t)
		if err != nil {
			s.failPage(w, r, err)
			return
		}
		d.Teams = append(d.Teams, dt)
	}
	s.render(w, r, http.StatusOK, "dora", page{Title: "DORA metrics", Nav: "dora", Data: d})
}

// chart is a deploys-per-day bar chart, laid out here so the template only draws rectangles.
type chart struct {
	Width, Height float64
	Bars          []bar
	Max           int
	Label         string
	// First and Last label the first and last day under the chart.
	First, Last string
}

// bar is one day: a success part stacked on a failure part.
type bar struct {
	X, W               float64
	SuccessY, SuccessH float64
	FailureY, FailureH float64
	Title              string
}

// dayChart lays out one bar per day, successes (green) above failures (red).
func dayChart(days []history.DayCount) chart {
	const height, barW, gap = 48.0, 8.0, 2.0
	c := chart{Height: height, Width: math.Max(float64(len(days))*(barW+gap), barW)}
	for _, d := range days {
		c.Max = max(c.Max, d.Successes+d.Failures)
	}
	total := 0
	scale := 0.0
	if c.Max > 0 {
		scale = (height - 2) / float64(c.Max)
	}
	for i, d := range days {
		total += d.Deploys
		fh := float64(d.Failures) * scale
		sh := float64(d.Successes) * scale
		c.Bars = append(c.Bars, bar{
			X: float64(i) * (barW + gap), W: barW,
			FailureY: height - fh, FailureH: fh,
			SuccessY: height - fh - sh, SuccessH: sh,
			Title: fmt.Sprintf("%s: %d successful, %d failed", d.Day.UTC().Format("Mon 2 Jan"), d.Successes, d.Failures),
		})
	}
	if len(days) > 0 {
		c.First, c.Last = days[0].Day.UTC().Format("2 Jan"), days[len(days)-1].Day.UTC().Format("2 Jan")
	}
	c.Label = fmt.Sprintf("Deploys per day over %d days: %d in all, at most %d successful or failed on one day", len(days), total, c.Max)
	return c
}

// short is a commit's short SHA.
func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// stateClass is the CSS class that colours a state.
func stateClass(s history.State) string {
	switch s {
	case history.StateSuccess:
		return "ok"
	case history.StateFailure, history.StateError:
		return "bad"
	case history.StateQueued, history.StateInProgress:
		return "busy"
	}
	return "idle"
}

// stateLabel is a state for people.
func stateLabel(s history.State) string {
	return strings.ReplaceAll(string(s), "_", " ")
}

// objectKind prints an object's kind with its group, as kubectl does.
func objectKind(o history.Object) string {
	if o.Group == "" {
		return o.Kind
	}
	return o.Kind + "." + o.Group
}

// humanDuration prints a duration the way people say it: "3 min", "2 h 5 min", "4 days".
func humanDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "in the future"
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		h := int(d.Hours())
		if m := int(d.Minutes()) % 60; m != 0 && h < 10 {
			return fmt.Sprintf("%d h %d min", h, m)
		}
		return fmt.Sprintf("%d h", h)
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}
