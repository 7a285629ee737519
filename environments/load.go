package environments

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/flyt-platform/flyt/internal/redact"
	"github.com/flyt-platform/flyt/internal/repourl"
	"github.com/flyt-platform/flyt/internal/yamlpos"
)

// Defaults filled in by Load and Parse where platform.yaml leaves a field out.
const (
	DefaultNamespace    = "{{team}}"
	DefaultBranch       = "main"
	DefaultTimeout      = 10 * time.Minute
	DefaultPollInterval = time.Minute
	DefaultWorkers      = 16
	DefaultListen       = ":8080"
	DefaultDataDir      = "./flyt-data"
	DefaultGitHubAPIURL = "https://api.github.com"
	DefaultGitUsername  = "x-access-token"
)

// Load reads, checks and completes the platform config in file. Every problem is reported at
// once, each with file:line:column and field path (see yamlpos.Errors to list them), so an
// operator fixes the file in one go. Relative paths in the file (kubeconfigs, token, key and
// secret files) are taken relative to the file's folder.
func Load(file string) (*Platform, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read platform config: %w", err)
	}
	return Parse(file, data)
}

// Parse is Load for data already read, from disk or from a Git repository; file names it in
// errors and anchors relative paths.
func Parse(file string, data []byte) (*Platform, error) {
	doc, err := yamlpos.Parse(file, data, yamlpos.DefaultLimits)
	if err != nil {
		return nil, err
	}
	var p Platform
	decodeErrs := yamlpos.Errors(doc.Decode(&p))
	// Validate what did decode too, so every problem is reported at once; a field that failed to
	// decode is not also reported as missing or wrong.
	v := &validator{doc: doc, p: &p}
	v.validate()
	all := yamlpos.ErrorList(decodeErrs)
	for _, e := range v.errs {
		if !slices.ContainsFunc(decodeErrs, func(d *yamlpos.Error) bool { return overlaps(d.Path, e.Path) }) {
			all = append(all, e)
		}
	}
	if err := all.Err(); err != nil {
		return nil, err
	}
	p.setDefaults(filepath.Dir(file))
	p.Limits = p.Limits.WithDefaults()
	return &p, nil
}

// setDefaults fills what the file left out and anchors relative paths at dir.
func (p *Platform) setDefaults(dir string) {
	p.Server.setDefaults(dir)
	for i := range p.Environments {
		p.Environments[i].setDefaults(dir)
	}
	for i := range p.Teams {
		p.Teams[i].setDefaults(dir)
	}
}

func (s *Server) setDefaults(dir string) {
	if s.Listen == "" {
		s.Listen = DefaultListen
	}
	if s.DataDir == "" {
		s.DataDir = DefaultDataDir
	}
	s.DataDir = resolvePath(dir, s.DataDir)
	if s.ExternalURL == "" {
		host, port, _ := net.SplitHostPort(s.Listen)
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "localhost"
		}
		s.ExternalURL = "http://" + net.JoinHostPort(host, port)
	}
	if s.PollInterval.Duration == 0 {
		s.PollInterval.Duration = DefaultPollInterval
	}
	if s.Retention.ExportDir != "" {
		s.Retention.ExportDir = resolvePath(dir, s.Retention.ExportDir)
	}
	if s.Workers == 0 {
		s.Workers = DefaultWorkers
	}
	if s.GitHub.APIURL == "" {
		s.GitHub.APIURL = DefaultGitHubAPIURL
	}
	s.GitHub.TokenFile = resolvePath(dir, s.GitHub.TokenFile)
	s.GitHub.PrivateKeyFile = resolvePath(dir, s.GitHub.PrivateKeyFile)
	for i := range s.WebhookSecretFiles {
		s.WebhookSecretFiles[i] = resolvePath(dir, s.WebhookSecretFiles[i])
	}
	if sqlite, ok := strings.CutPrefix(s.HistoryDSN, "sqlite://"); ok && sqlite != "" && !strings.HasPrefix(sqlite, "/") {
		s.HistoryDSN = "sqlite://" + resolvePath(dir, sqlite)
	}
}

func (e *Environment) setDefaults(dir string) {
	if e.Namespace == "" {
		e.Namespace = DefaultNamespace
	}
	if e.Cluster.Name == "" {
		e.Cluster.Name = e.Name
	}
	e.Cluster.Kubeconfig = resolvePath(dir, e.Cluster.Kubeconfig)
	if e.Branch == "" && e.PromoteFrom == "" {
		e.Branch = DefaultBranch
	}
	if e.Timeout.Duration == 0 {
		e.Timeout.Duration = DefaultTimeout
	}
	for j := range e.Windows {
		if e.Windows[j].TimeZone == "" {
			e.Windows[j].TimeZone = DefaultTimeZone
		}
	}
}

func (t *Team) setDefaults(dir string) {
	for j := range t.WebhookSecretFiles {
		t.WebhookSecretFiles[j] = resolvePath(dir, t.WebhookSecretFiles[j])
	}
	for j := range t.Repositories {
		r := &t.Repositories[j]
		if r.Branch == "" {
			r.Branch = DefaultBranch
		}
		if r.TokenFile != "" && r.Username == "" {
			r.Username = DefaultGitUsername
		}
		r.TokenFile = resolvePath(dir, r.TokenFile)
		r.SSHKeyFile = resolvePath(dir, r.SSHKeyFile)
		r.KnownHostsFile = resolvePath(dir, r.KnownHostsFile)
		if repourl.IsPath(r.URL) && !filepath.IsAbs(r.URL) {
			r.URL = resolvePath(dir, r.URL)
		}
	}
}

// overlaps reports whether one field path is the other or lies inside it.
func overlaps(a, b string) bool {
	inside := func(child, parent string) bool {
		return child == parent || parent == "" ||
			strings.HasPrefix(child, parent) && (child[len(parent)] == '.' || child[len(parent)] == '[')
	}
	return inside(a, b) || inside(b, a)
}

func resolvePath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) || dir == "" {
		return p
	}
	return filepath.Join(dir, p)
}

// validator collects every problem of a decoded platform config, placed by field path.
type validator struct {
	doc  *yamlpos.Document
	p    *Platform
	errs yamlpos.ErrorList
}

func (v *validator) errorf(path, format string, args ...any) {
	v.errs = append(v.errs, v.doc.Errorf(path, format, args...))
}

func (v *validator) line(path string) int {
	l, _ := v.doc.Position(path)
	return l
}

const dnsLabelHelp = "use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"

func (v *validator) dnsLabel(path, what, s string) bool {
	if s == "" {
		v.errorf(path, "missing %s", what)
		return false
	}
	if len(validation.IsDNS1123Label(s)) > 0 {
		v.errorf(path, "%q is not a valid %s: %s", s, what, dnsLabelHelp)
		return false
	}
	return true
}

func (v *validator) validate() {
	p := v.p
	if p.APIVersion != APIVersion {
		if p.APIVersion == "" {
			v.errorf("apiVersion", "missing; set it to %s", APIVersion)
		} else {
			v.errorf("apiVersion", "%q is not supported; set it to %s", p.APIVersion, APIVersion)
		}
	}
	if p.Kind != Kind {
		if p.Kind == "" {
			v.errorf("kind", "missing; set it to %s", Kind)
		} else {
			v.errorf("kind", "%q is not a platform config; set it to %s", p.Kind, Kind)
		}
	}
	v.server()
	v.limits()
	if len(p.Environments) == 0 {
		v.errorf("environments", "no environments; add at least one, such as {name: dev, branch: main, cluster: {inCluster: true}}")
	}
	names := map[string]int{}
	for i := range p.Environments {
		v.environment(i, names)
	}
	v.teams()
}

func (v *validator) server() {
	s := &v.p.Server
	if s.Listen != "" {
		if _, port, err := net.SplitHostPort(s.Listen); err != nil || port == "" {
			v.errorf("server.listen", "%q is not a listen address; write host:port or :port, such as :8080", s.Listen)
		}
	}
	if s.ExternalURL != "" {
		if u, err := url.Parse(s.ExternalURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.errorf("server.externalURL", "%q is not an absolute http(s) URL; write it as https://flyt.example.test", s.ExternalURL)
		}
	}
	if s.PollInterval.Duration < 0 {
		v.errorf("server.pollInterval", "must be positive, such as 1m")
	}
	if s.Retention.Days < 0 {
		v.errorf("server.retention.days", "must be positive (days of history to keep); leave it out to keep every deploy")
	}
	if s.Workers < 0 {
		v.errorf("server.workers", "must be positive; leave it out for %d", DefaultWorkers)
	}
	if s.TeamWorkers < 0 {
		v.errorf("server.teamWorkers", "must be positive; leave it out for a quarter of the workers")
	}
	v.historyDSN(s.HistoryDSN)
	for i, f := range s.WebhookSecretFiles {
		if f == "" {
			v.errorf(fmt.Sprintf("server.webhookSecretFiles[%d]", i), "empty file name")
		}
	}
	v.github(&s.GitHub)
}

// historyDSN checks server.historyDSN. The DSN may hold a password: no message here quotes
// it, the line points at it.
func (v *validator) historyDSN(dsn string) {
	if dsn != "" {
		scheme, rest, _ := strings.Cut(dsn, "://")
		switch {
		case scheme == "sqlite" && rest != "":
		case scheme == "postgres" || scheme == "postgresql":
			if problem := redact.URLProblem(dsn); problem != "" {
				v.errorf("server.historyDSN", "not a valid PostgreSQL URL: %s", problem)
			}
		case keywordDSN.MatchString(dsn):
			// PostgreSQL's keyword/value form (host=db dbname=flyt …); the history store
			// reads it with pgx and says what is wrong with it.
		default:
			v.errorf("server.historyDSN", "unsupported; use sqlite:///path/to/flyt.db, postgres://user@host/db, host=… dbname=… (PostgreSQL keyword/value), or leave it out for SQLite in dataDir")
		}
	}
}

// github checks server.github: the API URL, and either a token or a whole GitHub App.
func (v *validator) github(g *GitHub) {
	if g.APIURL != "" {
		if u, err := url.Parse(g.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.errorf("server.github.apiURL", "%q is not an absolute http(s) URL", g.APIURL)
		}
	}
	app := g.AppID != 0 || g.InstallationID != 0 || g.PrivateKeyFile != ""
	switch {
	case app && g.TokenFile != "":
		v.errorf("server.github.tokenFile", "set either tokenFile or a GitHub App (appID, installationID, privateKeyFile), not both")
	case app && (g.AppID == 0 || g.InstallationID == 0 || g.PrivateKeyFile == ""):
		v.errorf("server.github", "a GitHub App needs all of appID, installationID and privateKeyFile")
	}
}

var placeholder = regexp.MustCompile(`\{\{\s*([^}]*?)\s*\}\}`)

func (v *validator) environment(i int, names map[string]int) {
	e := &v.p.Environments[i]
	at := func(field string) string { return fmt.Sprintf("environments[%d]%s", i, field) }

	if v.dnsLabel(at(".name"), "environment name", e.Name) {
		if first, dup := names[e.Name]; dup {
			v.errorf(at(".name"), "duplicate environment %q (first at line %d); give each environment its own name", e.Name, v.line(fmt.Sprintf("environments[%d].name", first)))
		} else {
			names[e.Name] = i
		}
	}

	v.feed(i, at)
	v.cluster(&e.Cluster, at)
	v.namespacePattern(e.Namespace, at)
	v.ingresses(e.Ingresses, at)
	v.integrations(e.Integrations, at)
	v.rawKinds(e.RawKinds, at)
	v.windows(e.Windows, at)
}

// feed checks how an environment gets its revisions: from a branch, or promoted from an
// earlier environment (with its soak time and auto-promotion).
func (v *validator) feed(i int, at func(string) string) {
	e := &v.p.Environments[i]
	switch {
	case e.Branch != "" && e.PromoteFrom != "":
		v.errorf(at(".promoteFrom"), "set either branch or promoteFrom, not both: an environment follows a branch or is promoted to")
	case e.PromoteFrom != "":
		var earlier []string
		for _, prev := range v.p.Environments[:i] {
			earlier = append(earlier, prev.Name)
		}
		switch {
		case e.PromoteFrom == e.Name:
			v.errorf(at(".promoteFrom"), "an environment cannot be promoted from itself; use one of: %s", orNone(earlier))
		case len(earlier) == 0:
			v.errorf(at(".promoteFrom"), "the first environment cannot be promoted to; feed it from a branch instead")
		case !slices.Contains(earlier, e.PromoteFrom):
			v.errorf(at(".promoteFrom"), "%q is not an earlier environment; use one of: %s", e.PromoteFrom, strings.Join(earlier, ", "))
		}
	default:
		if v.doc.Has(at(".after")) {
			v.errorf(at(".after"), "after is the soak time of a promotion; set promoteFrom too, or remove it")
		}
		if e.Auto {
			v.errorf(at(".auto"), "auto promotes from another environment; set promoteFrom too, or remove it")
		}
	}
	if e.Branch != "" && (strings.ContainsAny(e.Branch, " ~^:?*[\\") || strings.HasPrefix(e.Branch, "-") || strings.HasPrefix(e.Branch, "refs/")) {
		v.errorf(at(".branch"), "%q is not a branch name; write it as it appears in git branch, such as main", e.Branch)
	}
	if e.After.Duration < 0 {
		v.errorf(at(".after"), "must not be negative")
	}
	if e.Timeout.Duration < 0 {
		v.errorf(at(".timeout"), "must be positive, such as 10m")
	}

}

// cluster checks an environment's connection to its cluster.
func (v *validator) cluster(c *Cluster, at func(string) string) {
	switch {
	case c.InCluster && c.Kubeconfig != "":
		v.errorf(at(".cluster.inCluster"), "set either kubeconfig or inCluster, not both")
	case !c.InCluster && c.Kubeconfig == "":
		v.errorf(at(".cluster"), "no cluster connection; set kubeconfig (and optionally context) or inCluster: true")
	}
	if c.Context != "" && c.Kubeconfig == "" {
		v.errorf(at(".cluster.context"), "context picks a context in kubeconfig; set kubeconfig too")
	}
	if c.Name != "" {
		v.dnsLabel(at(".cluster.name"), "cluster name", c.Name)
	}

}

// namespacePattern checks an environment's namespace pattern: only {{team}} and {{env}},
// and a valid namespace name once filled in.
func (v *validator) namespacePattern(pattern string, at func(string) string) {
	if pattern != "" {
		bad := false
		for _, m := range placeholder.FindAllStringSubmatch(pattern, -1) {
			if m[1] != "team" && m[1] != "env" {
				v.errorf(at(".namespace"), "unknown variable {{%s}}; the pattern may use {{team}} and {{env}}", m[1])
				bad = true
			}
		}
		sample := placeholder.ReplaceAllString(pattern, "x")
		if !bad && len(validation.IsDNS1123Label(sample)) > 0 {
			v.errorf(at(".namespace"), "%q does not make valid namespace names: %s", pattern, dnsLabelHelp)
		}
	}
}

// ingresses checks an environment's ingress domains and their classes.
func (v *validator) ingresses(ingresses []IngressDomain, at func(string) string) {
	domains := map[string]int{}
	for j, in := range ingresses {
		p := at(fmt.Sprintf(".ingresses[%d]", j))
		d := strings.TrimSuffix(in.Domain, ".")
		switch {
		case d == "":
			v.errorf(p+".domain", "missing domain, such as dev.example.test")
		case len(validation.IsDNS1123Subdomain(d)) > 0:
			v.errorf(p+".domain", "%q is not a DNS domain: use lowercase letters, digits, '-' and '.'", in.Domain)
		default:
			if first, dup := domains[d]; dup {
				v.errorf(p+".domain", "duplicate domain %q (first at line %d); map each domain to one class", d, v.line(at(fmt.Sprintf(".ingresses[%d].domain", first))))
			} else {
				domains[d] = j
			}
		}
		switch {
		case in.Class == "":
			v.errorf(p+".class", "missing ingress class for %q, such as nginx", in.Domain)
		case len(validation.IsDNS1123Subdomain(in.Class)) > 0:
			v.errorf(p+".class", "%q is not an ingress class name: use lowercase letters, digits, '-' and '.'", in.Class)
		}
	}

}

// integrations checks the names of the integrations an environment supports.
func (v *validator) integrations(names []string, at func(string) string) {
	seen := map[string]bool{}
	for j, name := range names {
		p := at(fmt.Sprintf(".integrations[%d]", j))
		switch {
		case strings.TrimSpace(name) == "":
			v.errorf(p, "empty integration name")
		case seen[strings.ToLower(name)]:
			v.errorf(p, "%q is listed twice", name)
		}
		seen[strings.ToLower(name)] = true
	}

}

// rawKinds checks the kinds an environment lets teams ship as raw objects.
func (v *validator) rawKinds(rawKinds []string, at func(string) string) {
	kinds := map[string]bool{}
	for j, k := range rawKinds {
		p := at(fmt.Sprintf(".rawKinds[%d]", j))
		if msg := rawKindProblem(k); msg != "" {
			v.errorf(p, "%s", msg)
		} else if kinds[k] {
			v.errorf(p, "%q is listed twice", k)
		}
		kinds[k] = true
	}

}

// windows checks an environment's deploy windows.
func (v *validator) windows(windows []Window, at func(string) string) {
	for j := range windows {
		if _, err := windows[j].compile(); err != nil {
			var we *windowError
			if errors.As(err, &we) {
				v.errorf(at(fmt.Sprintf(".windows[%d].%s", j, we.field)), "%s", we.msg)
			} else {
				v.errorf(at(fmt.Sprintf(".windows[%d]", j)), "%v", err)
			}
		}
	}
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "(none: feed this environment from a branch)"
	}
	return strings.Join(names, ", ")
}

var kindName = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)

// clusterScoped are well-known kinds that live outside namespaces; a team repository may
// never ship them (flyt's tenancy rule), so listing one is a mistake worth catching early.
var clusterScoped = map[string]bool{
	"Namespace": true, "Node": true, "PersistentVolume": true, "ClusterRole": true,
	"ClusterRoleBinding": true, "StorageClass": true, "PriorityClass": true,
	"apiextensions.k8s.io/CustomResourceDefinition": true, "rbac.authorization.k8s.io/ClusterRole": true,
	"rbac.authorization.k8s.io/ClusterRoleBinding": true, "storage.k8s.io/StorageClass": true,
	"admissionregistration.k8s.io/ValidatingWebhookConfiguration": true,
	"admissionregistration.k8s.io/MutatingWebhookConfiguration":   true,
	"networking.k8s.io/IngressClass":                              true, "scheduling.k8s.io/PriorityClass": true,
}

// rawKindProblem explains what is wrong with a rawKinds entry, or returns "".
func rawKindProblem(k string) string {
	const help = `write "Kind" for the core group or "group/Kind", such as ConfigMap or kafka.nais.io/Topic ("group/*" allows every kind of a group)`
	group, kind, hasGroup := strings.Cut(k, "/")
	if !hasGroup {
		group, kind = "", k
	}
	switch {
	case k == "":
		return "empty kind; " + help
	case hasGroup && (group == "" || len(validation.IsDNS1123Subdomain(group)) > 0 || !strings.Contains(group, ".")):
		return fmt.Sprintf("%q has no valid API group; %s", k, help)
	case kind == "*" && hasGroup:
	case !kindName.MatchString(kind):
		return fmt.Sprintf("%q is not a kind; %s", k, help)
	case clusterScoped[k]:
		return fmt.Sprintf("%s is cluster-scoped; teams may only ship namespaced kinds", k)
	}
	return ""
}

func (v *validator) teams() {
	p := v.p
	envNames := make([]string, 0, len(p.Environments))
	for _, e := range p.Environments {
		envNames = append(envNames, e.Name)
	}
	names := map[string]int{}
	repoOwner := map[repourl.Key]int{} // repository → team index
	for i := range p.Teams {
		t := &p.Teams[i]
		at := func(field string) string { return fmt.Sprintf("teams[%d]%s", i, field) }
		if v.dnsLabel(at(".name"), "team name", t.Name) {
			if first, dup := names[t.Name]; dup {
				v.errorf(at(".name"), "duplicate team %q (first at line %d); merge the two entries", t.Name, v.line(fmt.Sprintf("teams[%d].name", first)))
			} else {
				names[t.Name] = i
			}
		}
		for _, env := range sortedKeys(t.Namespaces) {
			path := at(".namespaces") + keyPath(env)
			if !slices.Contains(envNames, env) {
				v.errorf(path, "%q is not an environment; use one of: %s", env, strings.Join(envNames, ", "))
				continue
			}
			v.dnsLabel(path, "namespace", t.Namespaces[env])
		}
		if t.ServiceAccount != "" && len(validation.IsDNS1123Subdomain(t.ServiceAccount)) > 0 {
			v.errorf(at(".serviceAccount"), "%q is not a service account name: use lowercase letters, digits, '-' and '.'", t.ServiceAccount)
		}
		for j, n := range t.Notify {
			if u, err := url.Parse(n); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				v.errorf(at(fmt.Sprintf(".notify[%d]", j)), "not an absolute http(s) URL; write the full webhook URL")
			}
		}
		for j, f := range t.WebhookSecretFiles {
			if f == "" {
				v.errorf(at(fmt.Sprintf(".webhookSecretFiles[%d]", j)), "empty file name")
			}
		}
		for j := range t.Repositories {
			v.repository(i, j, repoOwner)
		}
	}
	v.namespaceCollisions()
}

func (v *validator) repository(i, j int, owner map[repourl.Key]int) {
	r := &v.p.Teams[i].Repositories[j]
	at := func(field string) string { return fmt.Sprintf("teams[%d].repositories[%d]%s", i, j, field) }
	key, err := repourl.Parse(r.URL)
	ok := err == nil
	// shown is the URL as messages quote it: never with its credentials.
	shown := redact.URL(r.URL)
	switch {
	case r.URL == "":
		v.errorf(at(".url"), "missing repository URL, such as https://github.com/owner/name.git")
	case CredentialsInURL(r.URL):
		v.errorf(at(".url"), "%s", CredentialsMessage(r.URL))
	case !ok:
		v.errorf(at(".url"), "%q is not a repository URL; use https://host/owner/name.git, ssh://git@host/owner/name.git, git@host:owner/name.git or a local path", shown)
	default:
		if first, taken := owner[key]; taken && first != i {
			v.errorf(at(".url"), "repository already belongs to team %q; a repository deploys for one team only", v.p.Teams[first].Name)
		} else {
			owner[key] = i
		}
	}
	if r.TokenFile != "" && r.SSHKeyFile != "" {
		v.errorf(at(".sshKeyFile"), "set either tokenFile (HTTPS) or sshKeyFile (SSH), not both")
	}
	if r.Username != "" && r.TokenFile == "" {
		v.errorf(at(".username"), "username goes with tokenFile; set tokenFile too, or remove it")
	}
	if r.KnownHostsFile != "" && r.SSHKeyFile == "" {
		v.errorf(at(".knownHostsFile"), "knownHostsFile goes with sshKeyFile; set sshKeyFile too, or remove it")
	}
	if r.SSHKeyFile != "" && r.TokenFile == "" && ok && !repourl.IsSSH(r.URL) {
		v.errorf(at(".sshKeyFile"), "an SSH key needs an SSH URL (ssh://… or git@host:owner/name), but url is %q", shown)
	}
	if r.TokenFile != "" && ok && repourl.IsSSH(r.URL) {
		v.errorf(at(".tokenFile"), "a token needs an https:// URL, but url is %q", shown)
	}
	if strings.HasPrefix(r.Path, "/") || slices.Contains(strings.Split(r.Path, "/"), "..") {
		v.errorf(at(".path"), "%q must be a folder inside the repository, without a leading / or ..", r.Path)
	}
}

// CredentialsInURL reports whether a repository URL carries a credential in it: a user and
// token or password, or any user name in an https:// URL (GitHub takes a token as the user
// name alone). flyt refuses such a URL wherever it takes one, platform.yaml and flags alike:
// the URL is shown in logs, the history, the API and the UI, and a secret belongs in a file.
func CredentialsInURL(u string) bool { return redact.HasCredentials(u) }

// CredentialsMessage says what to do instead of a URL with credentials in it, quoting the
// URL with them hidden. The flag spellings (--config-token-file) are the caller's to add.
func CredentialsMessage(u string) string {
	shown := redact.URL(u)
	if repourl.IsSSH(u) {
		return fmt.Sprintf("%q has credentials in the URL; remove them: an SSH repository authenticates with a key, so put it in a file and name it in sshKeyFile (with knownHostsFile)", shown)
	}
	return fmt.Sprintf("%q has credentials in the URL; remove them and put the token in a file named by tokenFile (the user, if the host wants one, in username): the URL is shown in logs, the history and the UI", shown)
}

// keywordDSN matches the start of a PostgreSQL keyword/value connection string, as the
// history store tells one from a SQLite path (history.IsPostgres).
var keywordDSN = regexp.MustCompile(`^\s*[A-Za-z_]+\s*=`)

// reservedNamespaces hold the cluster's own workloads; no team may deploy into them.
var reservedNamespaces = map[string]bool{
	"default": true, "kube-system": true, "kube-public": true, "kube-node-lease": true,
}

// namespaceCollisions refuses two teams sharing a namespace in one environment, which would
// let one team's repository prune or overwrite the other's objects, and teams in the cluster's
// own namespaces.
func (v *validator) namespaceCollisions() {
	p := v.p
	for ei := range p.Environments {
		e := &p.Environments[ei]
		if e.Name == "" {
			continue
		}
		byNS := map[string]int{}
		for ti := range p.Teams {
			t := &p.Teams[ti]
			if t.Name == "" {
				continue
			}
			ns := e.TeamNamespace(t)
			path := fmt.Sprintf("teams[%d].namespaces", ti) + keyPath(e.Name)
			if _, own := t.Namespaces[e.Name]; !own {
				path = fmt.Sprintf("teams[%d].name", ti)
			}
			if reservedNamespaces[ns] {
				v.errorf(path, "namespace %q in environment %s belongs to the cluster, not to a team; choose another", ns, e.Name)
				continue
			}
			if first, dup := byNS[ns]; dup && p.Teams[first].Name != t.Name {
				v.errorf(path, "namespace %q in environment %s is also team %s's; give each team its own namespace", ns, e.Name, p.Teams[first].Name)
				continue
			}
			byNS[ns] = ti
		}
	}
}

var plainKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// keyPath is the field path suffix for map key k, in the form yamlpos uses.
func keyPath(k string) string {
	if plainKey.MatchString(k) {
		return "." + k
	}
	return fmt.Sprintf("[%q]", k)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
