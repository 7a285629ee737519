package pgtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat times (100 on Linux).
const clockTicks = 100

// CPUTime returns the CPU seconds the server has used so far: the postmaster's own and reaped
// children's, plus that of its live backends. Benchmarks subtract two readings to report
// work per CPU-second, a figure that stays meaningful on a loaded, shared machine where wall
// time does not.
func (s *Server) CPUTime() (float64, error) {
	b, err := os.ReadFile(filepath.Join(s.Dir, "data", "postmaster.pid"))
	if err != nil {
		return 0, fmt.Errorf("server cpu time: %w", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pm, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return 0, fmt.Errorf("server cpu time: postmaster.pid: %w", err)
	}
	// A backend that exits between the two reads would be counted in neither place (or in
	// both): read the postmaster before and after its children and retry until it held still.
	var ticks int64
	for range 10 {
		_, own, err := procTicks(pm, true)
		if err != nil {
			return 0, fmt.Errorf("server cpu time: %w", err)
		}
		ticks = own + childTicks(pm)
		if _, again, err := procTicks(pm, true); err == nil && again == own {
			break
		}
	}
	return float64(ticks) / clockTicks, nil
}

// childTicks sums the user+system ticks of the live children of pid.
func childTicks(pid int) int64 {
	var ticks int64
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		child, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil || child == pid {
			continue
		}
		parent, t, err := procTicks(child, false)
		if err == nil && parent == pid {
			ticks += t
		}
	}
	return ticks
}

// procTicks reads a process's parent and its user+system ticks (and its reaped children's
// when children is set) from /proc/<pid>/stat.
func procTicks(pid int, children bool) (ppid int, ticks int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name is in parentheses and may hold spaces; fields follow the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): ppid is field 4, utime..cstime are fields 14..17.
	if len(f) < 15 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	ppid, _ = strconv.Atoi(f[1])
	last := 12 // utime, stime
	if children {
		last = 14 // and cutime, cstime
	}
	for _, v := range f[11 : last+1] {
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return ppid, ticks, nil
}
