package serve

import (
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flyt-platform/flyt/history"
	"github.com/flyt-platform/flyt/internal/testenv/gittest"
	"github.com/flyt-platform/flyt/internal/testenv/hostiletest"
)

// hostileRSSBound is what the peak resident memory of `flyt serve` must stay below through
// TestHostileRepositories; the README's limits section quotes it with the measured figure.
const hostileRSSBound = 400 << 20

// TestHostileRepositories runs every hostile repository of internal/testenv/hostiletest against one
// real `flyt serve` on the dev control plane, each as a repository of team hostile whose
// harmless app first deployed from a clean commit. Every hostile commit, announced by a signed
// push webhook, ends as one recorded failure of that app naming the file and what is wrong
// (the .git folder is skipped: that app deploys); a second webhook and the polls after it
// record nothing more; team good's push made meanwhile deploys; the process never exits and
// answers /healthz throughout; and its peak RSS stays below hostileRSSBound.
func TestHostileRepositories(t *testing.T) {
	cases := hostiletest.Cases()
	srv := gittest.NewServer(t)
	dir := t.TempDir()
	outside := filepath.Join(dir, "outside", "secret.yaml")
	if err := os.MkdirAll(filepath.Dir(outside), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(outside, []byte(hostiletest.MarkerFile), 0o644); err != nil {
		t.Fatal(err)
	}

	good := srv.NewRepo("good/apps")
	goodApp := func(tag string) string {
		return strings.Replace(hostiletest.App("good-app"), ":1\n", ":"+tag+"\n", 1)
	}
	goodFirst := good.Commit(t, map[string]string{".nais/app.yaml": goodApp("1")}, "first")
	repos := make([]*gittest.Repo, len(cases))
	firsts := make([]string, len(cases))
	var repoList strings.Builder
	for i, c := range cases {
		repos[i] = srv.NewRepo("hostile/" + c.Slug)
		firsts[i] = repos[i].Commit(t, map[string]string{".nais/app.yaml": hostiletest.App(c.Slug)}, "harmless")
		fmt.Fprintf(&repoList, "  - url: %s\n", repos[i].URL())
	}
	for _, ns := range []string{"hostile", "good"} {
		if err := dev.Client().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	secretFile := filepath.Join(dir, "webhook-secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "platform.yaml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`apiVersion: flyt.dev/v1alpha1
kind: Platform
server:
  dataDir: %s
  pollInterval: 3s
  webhookSecretFiles: [%s]
environments:
- name: dev
  branch: main
  cluster: {kubeconfig: %s}
  rawKinds: [ConfigMap]
  timeout: 1m
teams:
- name: good
  repositories:
  - url: %s
- name: hostile
  repositories:
%s`, filepath.Join(dir, "data"), secretFile, dev.Kubeconfig(), good.URL(), repoList.String())+hostiletest.Limits), 0o600); err != nil {
		t.Fatal(err)
	}
	flyt := runServe(t, 20*time.Second, func(addr, _ string) []string {
		return []string{"serve", "--config", config, "--listen", addr, "--shutdown-timeout", "5s"}
	})
	pid := flyt.cmd.Process.Pid

	// The startup poll deploys every clean commit: the apps are known before the hostile
	// commits, as they would be on a platform in use.
	if d := flyt.waitDeploy(t, "good-app", "dev", goodFirst); d.State != history.StateSuccess {
		t.Fatalf("first deploy of good-app: %s: %s", d.State, d.Message)
	}
	for i, c := range cases {
		if d := flyt.waitDeploy(t, c.Slug, "dev", firsts[i]); d.State != history.StateSuccess {
			t.Fatalf("clean deploy of %s: %s: %s", c.Slug, d.State, d.Message)
		}
	}

	// From here on, /healthz must answer every time and the process must not exit.
	var healthFailures atomic.Int32
	var lastHealthErr atomic.Value
	stop := make(chan struct{})
	monitorDone := make(chan struct{})
	go func() {
		defer close(monitorDone)
		for {
			select {
			case <-stop:
				return
			case <-flyt.done:
				healthFailures.Add(1)
				lastHealthErr.Store("the process exited")
				return
			case <-time.After(250 * time.Millisecond):
			}
			resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(flyt.url + "/healthz")
			if err != nil {
				healthFailures.Add(1)
				lastHealthErr.Store(err.Error())
				continue
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				healthFailures.Add(1)
				lastHealthErr.Store(resp.Status)
			}
		}
	}()
	stopMonitor := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-monitorDone
	}
	defer stopMonitor()

	hostile := make([]string, len(cases))
	for i, c := range cases {
		hostile[i] = commitHostile(t, repos[i], firsts[i], c, outside)
	}
	recorded := func() int {
		n := 0
		for i, c := range cases {
			if ds := flyt.deploysOf(t, c.Slug, hostile[i]); len(ds) > 0 && ds[0].State.Terminal() {
				n++
			}
		}
		return n
	}
	// Team good pushes in the middle of the hostile pushes, while they are processed.
	goodSecond := good.Commit(t, map[string]string{".nais/app.yaml": goodApp("2")}, "second")
	var goodPushed time.Time
	var recordedAtGood int
	start := time.Now()
	for i := range cases {
		pushed(t, flyt.url, repos[i], firsts[i], hostile[i], fmt.Sprintf("hostile-%d", i))
		if i == len(cases)/2 {
			goodPushed = time.Now()
			pushed(t, flyt.url, good, goodFirst, goodSecond, "good-2")
			recordedAtGood = recorded()
		}
	}
	if d := flyt.waitDeploy(t, "good-app", "dev", goodSecond); d.State != history.StateSuccess {
		t.Errorf("team good's push beside the hostile repositories: %s: %s", d.State, d.Message)
	} else {
		t.Logf("team good's push deployed %.1fs after its webhook, sent %.1fs after the first hostile one, when %d of %d hostile commits were recorded",
			time.Since(goodPushed).Seconds(), goodPushed.Sub(start).Seconds(), recordedAtGood, len(cases))
	}

	for i, c := range cases {
		d := flyt.waitDeploy(t, c.Slug, "dev", hostile[i])
		switch {
		case c.Ignored:
			if d.State != history.StateSuccess {
				t.Errorf("%s: %s: %s; want success, the folder skipped", c.Name, d.State, d.Message)
			}
		case c.LinkOut && d.State == history.StateSuccess:
			t.Errorf("%s: the app deployed: the symbolic link %s out of the repository was silently skipped or read; it must be a failure naming the file", c.Name, c.File)
		case d.State != history.StateFailure:
			t.Errorf("%s: %s: %.300s; want failure", c.Name, d.State, d.Message)
		default:
			if c.File != "" && !strings.Contains(d.Message, c.File+":") {
				t.Errorf("%s: the message does not name %s: %.300s", c.Name, c.File, d.Message)
			}
			if !strings.Contains(d.Message, c.Want) {
				if c.LinkOut {
					t.Logf("%s: a failure, but it does not say the file is a link out of the repository: %.300s", c.Name, d.Message)
				} else {
					t.Errorf("%s: the message does not say %q: %.300s", c.Name, c.Want, d.Message)
				}
			}
		}
		if strings.Contains(d.Message, hostiletest.Marker) {
			t.Errorf("%s: the record shows what flyt read outside the repository: %.300s", c.Name, d.Message)
		}
	}
	var sneaky history.Page
	flyt.getJSON(t, "/api/v1/deploys?app=sneaky", &sneaky)
	if len(sneaky.Deploys) > 0 {
		t.Errorf("the Application inside .nais/.git was deployed: %+v", sneaky.Deploys[0])
	}

	// The same commits announced again, and two polls after: no second record.
	for i := range cases {
		pushed(t, flyt.url, repos[i], firsts[i], hostile[i], fmt.Sprintf("hostile-again-%d", i))
	}
	time.Sleep(7 * time.Second)
	for i, c := range cases {
		if ds := flyt.deploysOf(t, c.Slug, hostile[i]); len(ds) != 1 {
			t.Errorf("%s: %d deploys recorded for the hostile commit, want 1: %v", c.Name, len(ds), states(ds))
		}
	}

	stopMonitor()
	if n := healthFailures.Load(); n > 0 {
		t.Errorf("/healthz failed %d times while the hostile repositories were processed; last: %v", n, lastHealthErr.Load())
	}
	select {
	case <-flyt.done:
		t.Fatalf("flyt serve (pid %d) exited", pid)
	default:
	}
	hwm, rss := procStatusKiB(t, pid, "VmHWM"), procStatusKiB(t, pid, "VmRSS")
	t.Logf("flyt serve pid %d: peak RSS (VmHWM) %.0f MiB, RSS now %.0f MiB, bound %d MiB", pid, float64(hwm)/1024, float64(rss)/1024, hostileRSSBound>>20)
	if hwm<<10 >= hostileRSSBound {
		t.Errorf("peak RSS %.0f MiB, want below %d MiB", float64(hwm)/1024, hostileRSSBound>>20)
	}
	if strings.Contains(flyt.logsText(), "goroutine ") {
		t.Error("the log holds a Go stack trace")
	}
}

// pushed sends the signed push webhook of repo moving from before to after.
func pushed(t *testing.T, url string, repo *gittest.Repo, before, after, delivery string) {
	t.Helper()
	resp := signedPush(t, url, pushPayload(repo.URL(), before, after), delivery)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook for %s answered %s, want 202", repo.Name, resp.Status)
	}
}

func states(ds []history.Deploy) []string {
	var out []string
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%d %s (%s)", d.ID, d.State, d.Trigger))
	}
	return out
}

// procStatusKiB reads a "Name:   N kB" field of /proc/<pid>/status.
func procStatusKiB(t *testing.T, pid int, name string) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read status of flyt serve: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s in /proc/%d/status: %v", name, pid, err)
			}
			return n
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, name)
	return 0
}

// commitHostile commits case c on top of parent in repo and returns the new commit. Links
// are made in the working clone for git to commit; a .git folder, which git refuses, is
// written with go-git straight into the bare repository.
func commitHostile(t *testing.T, repo *gittest.Repo, parent string, c hostiletest.Case, outside string) string {
	t.Helper()
	if c.GitFolder {
		files := map[string]string{".nais/app.yaml": hostiletest.App(c.Slug)}
		for p, data := range c.Files {
			files[p] = data
		}
		return goGitCommit(t, repo.Dir, repo.Branch, parent, files)
	}
	for p, target := range c.Symlinks {
		if target == hostiletest.OutsideTarget {
			target = outside
		}
		full := filepath.Join(repo.Work, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, full); err != nil {
			t.Fatal(err)
		}
	}
	return repo.Commit(t, c.Files, c.Name)
}

// goGitCommit writes a commit holding exactly files (path → content) with parent into the
// bare repository at dir and moves branch to it.
func goGitCommit(t *testing.T, dir, branch, parent string, files map[string]string) string {
	t.Helper()
	r, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := r.Storer
	store := func(o interface {
		Encode(plumbing.EncodedObject) error
	}) plumbing.Hash {
		obj := st.NewEncodedObject()
		if err := o.Encode(obj); err != nil {
			t.Fatal(err)
		}
		h, err := st.SetEncodedObject(obj)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	// writeTree stores the tree of the files under prefix ("" for the root).
	var writeTree func(prefix string) plumbing.Hash
	writeTree = func(prefix string) plumbing.Hash {
		var tree object.Tree
		seen := map[string]bool{}
		for p, data := range files {
			rest, ok := strings.CutPrefix(p, prefix)
			if !ok {
				continue
			}
			name, _, isDir := strings.Cut(rest, "/")
			if seen[name] {
				continue
			}
			seen[name] = true
			if isDir {
				tree.Entries = append(tree.Entries, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: writeTree(prefix + name + "/")})
				continue
			}
			blob := st.NewEncodedObject()
			blob.SetType(plumbing.BlobObject)
			w, _ := blob.Writer()
			_, _ = w.Write([]byte(data))
			_ = w.Close()
			h, err := st.SetEncodedObject(blob)
			if err != nil {
				t.Fatal(err)
			}
			tree.Entries = append(tree.Entries, object.TreeEntry{Name: path.Base(p), Mode: filemode.Regular, Hash: h})
		}
		// Git orders entries by name, a directory's name with a "/" after it.
		key := func(e object.TreeEntry) string {
			if e.Mode == filemode.Dir {
				return e.Name + "/"
			}
			return e.Name
		}
		slices.SortFunc(tree.Entries, func(a, b object.TreeEntry) int { return strings.Compare(key(a), key(b)) })
		return store(&tree)
	}
	sig := object.Signature{Name: gittest.AuthorName, Email: gittest.AuthorEmail, When: gittest.Epoch.Add(time.Hour)}
	commit := &object.Commit{Author: sig, Committer: sig, Message: "a .git folder inside the tree\n",
		TreeHash: writeTree(""), ParentHashes: []plumbing.Hash{plumbing.NewHash(parent)}}
	h := store(commit)
	if err := st.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName(branch), h)); err != nil {
		t.Fatal(err)
	}
	return h.String()
}
