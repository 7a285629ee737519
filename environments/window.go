package environments

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // deploy windows need zone data even in images without /usr/share/zoneinfo
)

// DefaultTimeZone is the zone of windows that name none: flyt grew up on a Norwegian platform.
const DefaultTimeZone = "Europe/Oslo"

// Window actions.
const (
	// WindowAllow admits automatic deploys inside the window; with any allow window in an
	// environment, deploys outside all of them are held.
	WindowAllow = "allow"
	// WindowDeny holds automatic deploys inside the window. Deny wins over allow.
	WindowDeny = "deny"
)

const (
	minutesPerDay  = 24 * 60
	minutesPerWeek = 7 * minutesPerDay
)

// span is a half-open range of wall-clock minutes within a week, counted from Sunday 00:00 (as
// time.Weekday counts). It may wrap past the end of the week.
type span struct{ start, length int }

func (s span) contains(m int) bool {
	return ((m-s.start)%minutesPerWeek+minutesPerWeek)%minutesPerWeek < s.length
}

// compiledWindow is a Window ready to be evaluated.
type compiledWindow struct {
	deny  bool
	loc   *time.Location
	spans []span
	desc  string
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "sunday": time.Sunday,
	"mon": time.Monday, "monday": time.Monday,
	"tue": time.Tuesday, "tuesday": time.Tuesday,
	"wed": time.Wednesday, "wednesday": time.Wednesday,
	"thu": time.Thursday, "thursday": time.Thursday,
	"fri": time.Friday, "friday": time.Friday,
	"sat": time.Saturday, "saturday": time.Saturday,
}

// windowError is a problem with one field of a Window.
type windowError struct{ field, msg string }

func (e *windowError) Error() string { return e.field + ": " + e.msg }

func parseWeekday(s string) (time.Weekday, bool) {
	d, ok := weekdays[strings.ToLower(strings.TrimSpace(s))]
	return d, ok
}

// parseDays reads weekday names and ranges ("Mon-Fri", "Sat"); empty means every day.
func parseDays(days []string) ([]time.Weekday, error) {
	if len(days) == 0 {
		return []time.Weekday{0, 1, 2, 3, 4, 5, 6}, nil
	}
	var out []time.Weekday
	for i, d := range days {
		from, to, isRange := strings.Cut(d, "-")
		a, ok1 := parseWeekday(from)
		b, ok2 := a, true
		if isRange {
			b, ok2 = parseWeekday(to)
		}
		if !ok1 || !ok2 {
			return nil, &windowError{fmt.Sprintf("days[%d]", i), fmt.Sprintf("%q is not a weekday; write Mon, Tue, Wed, Thu, Fri, Sat, Sun (or the full name), or a range such as Mon-Fri", d)}
		}
		for w := a; ; w = (w + 1) % 7 {
			if !slices.Contains(out, w) {
				out = append(out, w)
			}
			if w == b {
				break
			}
		}
	}
	return out, nil
}

// parseClock reads "HH:MM" (00:00 to 24:00) as minutes after midnight.
func parseClock(s string) (int, bool) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || len(h) == 0 || len(h) > 2 || len(m) != 2 {
		return 0, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || hh == 24 && mm != 0 {
		return 0, false
	}
	return hh*60 + mm, true
}

// parseWeekClock reads "Fri 15:00" as minutes after Sunday 00:00; ok is false when s has no day.
func parseWeekClock(s string) (minute int, hasDay bool, valid bool) {
	day, clock, found := strings.Cut(strings.TrimSpace(s), " ")
	if !found {
		return 0, false, true
	}
	d, ok := parseWeekday(day)
	if !ok {
		return 0, true, false
	}
	m, ok := parseClock(clock)
	if !ok {
		return 0, true, false
	}
	return int(d)*minutesPerDay + m, true, true
}

// compile checks w and turns it into spans. Errors name the Window field at fault.
func (w *Window) compile() (*compiledWindow, error) {
	c := &compiledWindow{}
	switch w.Action {
	case WindowAllow:
	case WindowDeny:
		c.deny = true
	case "":
		return nil, &windowError{"action", `missing; set it to "allow" or "deny"`}
	default:
		return nil, &windowError{"action", fmt.Sprintf(`%q is not an action; use "allow" or "deny"`, w.Action)}
	}
	zone := w.TimeZone
	if zone == "" {
		zone = DefaultTimeZone
	}
	loc, err := time.LoadLocation(zone)
	if err != nil || zone == "Local" {
		return nil, &windowError{"timeZone", fmt.Sprintf("%q is not an IANA time zone; use a name such as Europe/Oslo or UTC", zone)}
	}
	c.loc = loc

	startW, startDay, ok1 := parseWeekClock(w.Start)
	endW, endDay, ok2 := parseWeekClock(w.End)
	if startDay || endDay {
		switch {
		case !ok1 || !startDay:
			return nil, &windowError{"start", fmt.Sprintf(`%q is not a weekday and time; with a weekday in start or end write both as "Fri 15:00"`, w.Start)}
		case !ok2 || !endDay:
			return nil, &windowError{"end", fmt.Sprintf(`%q is not a weekday and time; with a weekday in start or end write both as "Mon 07:00"`, w.End)}
		case len(w.Days) > 0:
			return nil, &windowError{"days", "leave days out when start and end name weekdays"}
		case startW == endW:
			return nil, &windowError{"end", "equals start; the window would be empty"}
		}
		c.spans = []span{{startW, ((endW-startW)%minutesPerWeek + minutesPerWeek) % minutesPerWeek}}
		c.desc = fmt.Sprintf("%s %s–%s", w.Action, w.Start, w.End)
	} else {
		start, end := 0, minutesPerDay
		if w.Start != "" {
			if start, ok1 = parseClock(w.Start); !ok1 || start == minutesPerDay {
				return nil, &windowError{"start", fmt.Sprintf(`%q is not a time of day; write "HH:MM" from 00:00 to 23:59, or "Fri 15:00" with a weekday`, w.Start)}
			}
		}
		if w.End != "" {
			if end, ok2 = parseClock(w.End); !ok2 {
				return nil, &windowError{"end", fmt.Sprintf(`%q is not a time of day; write "HH:MM" from 00:00 to 24:00, or "Mon 07:00" with a weekday`, w.End)}
			}
		}
		length := end - start
		if length <= 0 {
			length += minutesPerDay // crosses midnight
		}
		days, err := parseDays(w.Days)
		if err != nil {
			return nil, err
		}
		for _, d := range days {
			c.spans = append(c.spans, span{int(d)*minutesPerDay + start, length})
		}
		when := "every day"
		if len(w.Days) > 0 {
			when = strings.Join(w.Days, ",")
		}
		c.desc = fmt.Sprintf("%s %s %s–%s", w.Action, when, clockString(start), clockString(end))
	}
	c.desc += " " + loc.String()
	return c, nil
}

func clockString(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

// weekMinute is t's wall-clock minute of the week in loc.
func weekMinute(t time.Time, loc *time.Location) int {
	l := t.In(loc)
	return int(l.Weekday())*minutesPerDay + l.Hour()*60 + l.Minute()
}

func (c *compiledWindow) active(t time.Time) bool {
	m := weekMinute(t, c.loc)
	for _, s := range c.spans {
		if s.contains(m) {
			return true
		}
	}
	return false
}

// windowState says whether deploys may run at t under the windows, and if not, why.
func windowState(ws []*compiledWindow, t time.Time) (bool, string) {
	anyAllow, inAllow := false, false
	for _, w := range ws {
		if w.deny {
			if w.active(t) {
				return false, "inside deny window " + w.desc
			}
			continue
		}
		anyAllow = true
		if !inAllow && w.active(t) {
			inAllow = true
		}
	}
	if anyAllow && !inAllow {
		var descs []string
		for _, w := range ws {
			if !w.deny {
				descs = append(descs, w.desc)
			}
		}
		return false, "outside the allow windows (" + strings.Join(descs, "; ") + ")"
	}
	return true, ""
}

// compileWindows compiles every window; a hand-built Environment with a bad window gets an error.
func (e *Environment) compileWindows() ([]*compiledWindow, error) {
	out := make([]*compiledWindow, 0, len(e.Windows))
	for i := range e.Windows {
		c, err := e.Windows[i].compile()
		if err != nil {
			return nil, fmt.Errorf("environment %s: windows[%d].%w", e.Name, i, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// WindowOpen says whether automatic deploys may run in the environment at now, and if not, why
// and when they may next run, so held work can be scheduled for release at exactly that
// moment. Deny windows win over allow windows; with any allow window, all time outside allow
// windows is closed. Windows follow the wall clock of their zone, across daylight saving
// changes. next is zero when the windows never open (or the environment is open now). An
// environment whose windows do not compile (only possible when built by hand, since Load
// validates them) is closed: flyt holds rather than deploys when unsure.
func (e *Environment) WindowOpen(now time.Time) (open bool, reason string, next time.Time) {
	ws, err := e.compileWindows()
	if err != nil {
		return false, err.Error(), time.Time{}
	}
	if open, _ := windowState(ws, now); open {
		return true, "", time.Time{}
	}
	_, reason = windowState(ws, now)
	for _, c := range candidates(ws, now) {
		if ok, _ := windowState(ws, c); ok {
			return false, reason, c
		}
	}
	return false, reason, time.Time{}
}

// candidates lists, in order, every instant after now and within eight days at which the
// windows' state may change: each window boundary on each day (and an hour either side, where
// daylight saving repeats or skips a wall-clock time) and each change of a zone's UTC offset.
// The state is constant between these instants, so the first open one is when work resumes.
func candidates(ws []*compiledWindow, now time.Time) []time.Time {
	horizon := now.Add(8 * 24 * time.Hour)
	var out []time.Time
	add := func(t time.Time) {
		if t.After(now) && !t.After(horizon) {
			out = append(out, t)
		}
	}
	for _, w := range ws {
		local := now.In(w.loc)
		for t := local; t.Before(horizon); {
			_, end := t.ZoneBounds()
			if end.IsZero() {
				break
			}
			add(end)
			t = end
		}
		y, mo, d := local.Date()
		for day := -1; day <= 8; day++ {
			for _, s := range w.spans {
				for _, m := range []int{s.start, s.start + s.length} {
					m %= minutesPerWeek
					date := time.Date(y, mo, d+day, 0, 0, 0, 0, w.loc)
					if int(date.Weekday()) != m/minutesPerDay {
						continue
					}
					b := time.Date(y, mo, d+day, 0, m%minutesPerDay, 0, 0, w.loc)
					add(b)
					add(b.Add(-time.Hour))
					add(b.Add(time.Hour))
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return slices.CompactFunc(out, time.Time.Equal)
}
