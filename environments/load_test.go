package environments

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flyt-platform/flyt/internal/yamlpos"
)

func TestLoadEveryField(t *testing.T) {
	p, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := &Platform{
		APIVersion: APIVersion,
		Kind:       Kind,
		Server: Server{
			HistoryDSN:         "sqlite://testdata/history/flyt.db",
			DataDir:            "/var/lib/flyt",
			Listen:             "127.0.0.1:9090",
			ExternalURL:        "https://flyt.example.test",
			PollInterval:       Duration{30 * time.Second},
			Workers:            8,
			TeamWorkers:        3,
			WebhookSecretFiles: []string{"testdata/secrets/webhook-1", "/etc/flyt/webhook-2"},
			AllowMassPrune:     true,
			Retention:          Retention{Days: 400, ExportDir: "testdata/history/export"},
			GitHub: GitHub{
				APIURL: "https://ghe.example.test/api/v3", AppID: 12, InstallationID: 34,
				PrivateKeyFile: "testdata/secrets/app.pem", CommitStatuses: true,
			},
		},
		Environments: []Environment{
			{
				Name:      "dev",
				Branch:    "develop",
				Cluster:   Cluster{Name: "dev-cluster", Kubeconfig: "/etc/flyt/kubeconfig", Context: "dev"},
				Namespace: "{{team}}-{{env}}",
				Ingresses: []IngressDomain{
					{Domain: "dev.example.test", Class: "nginx"},
					{Domain: "internal.dev.example.test", Class: "nginx-internal"},
				},
				Integrations:  []string{"kafka", "gcp"},
				RawKinds:      []string{"ConfigMap", "kafka.nais.io/Topic", "monitoring.coreos.com/*"},
				Image:         "registry.example.test/{{team}}/{{app}}:{{commit}}",
				Strict:        true,
				Timeout:       Duration{5 * time.Minute},
				WaitForImages: true,
				Windows:       []Window{{Action: "allow", Days: []string{"Mon-Fri"}, Start: "08:00", End: "16:00", TimeZone: "UTC"}},
			},
			{
				Name:        "prod",
				PromoteFrom: "dev",
				After:       Duration{time.Hour},
				Auto:        true,
				Suspended:   true,
				Cluster:     Cluster{Name: "prod", InCluster: true},
				Namespace:   "{{team}}",
				Timeout:     Duration{10 * time.Minute},
			},
		},
		Teams: []Team{{
			Name:               "team-a",
			Namespaces:         map[string]string{"prod": "alpha"},
			ServiceAccount:     "deployer",
			Notify:             []string{"https://hooks.example.test/a"},
			WebhookSecretFiles: []string{"testdata/secrets/team-a"},
			Repositories: []Repository{
				{
					URL: "git@github.com:example-org/team-a.git", Branch: "trunk", Path: "apps",
					SSHKeyFile: "testdata/keys/id_ed25519", KnownHostsFile: "testdata/keys/known_hosts",
				},
				{URL: "https://github.com/example-org/team-a-extra", Branch: "main", TokenFile: "/etc/flyt/token", Username: "bot"},
			},
		}},
		Limits: Limits{
			FileSize: 512 << 10, RepoFiles: 300, RepoSize: 4 << 20, YAMLValues: 10000, YAMLDepth: 40,
			TemplateDepth: 8, TemplateOutput: 2 << 20, Objects: 50, ObjectSize: 1_000_000,
		},
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestDefaults(t *testing.T) {
	p, err := Parse("/etc/flyt/platform.yaml", []byte(`apiVersion: flyt.dev/v1alpha1
kind: Platform
environments:
  - name: dev
    cluster: {kubeconfig: kube/config}
    windows: [{action: deny}]
  - name: prod
    promoteFrom: dev
    cluster: {inCluster: true}
server:
  github: {tokenFile: secrets/github-token}
teams:
  - name: team-a
    repositories:
      - url: https://github.com/o/a
        tokenFile: token
      - url: ./local/repo
`))
	if err != nil {
		t.Fatal(err)
	}
	want := &Platform{
		APIVersion: APIVersion,
		Kind:       Kind,
		Server: Server{
			DataDir: "/etc/flyt/flyt-data", Listen: ":8080", ExternalURL: "http://localhost:8080",
			PollInterval: Duration{time.Minute}, Workers: 16,
			GitHub: GitHub{APIURL: "https://api.github.com", TokenFile: "/etc/flyt/secrets/github-token"},
		},
		Environments: []Environment{
			{
				Name: "dev", Branch: "main", Namespace: "{{team}}", Timeout: Duration{10 * time.Minute},
				Cluster: Cluster{Name: "dev", Kubeconfig: "/etc/flyt/kube/config"},
				Windows: []Window{{Action: "deny", TimeZone: "Europe/Oslo"}},
			},
			{
				Name: "prod", PromoteFrom: "dev", Namespace: "{{team}}", Timeout: Duration{10 * time.Minute},
				Cluster: Cluster{Name: "prod", InCluster: true},
			},
		},
		Teams: []Team{{Name: "team-a", Repositories: []Repository{
			{URL: "https://github.com/o/a", Branch: "main", TokenFile: "/etc/flyt/token", Username: "x-access-token"},
			{URL: "/etc/flyt/local/repo", Branch: "main"},
		}}},
		Limits: DefaultLimits(),
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestLoadExample(t *testing.T) {
	p, err := Load("../examples/platform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dev, prod := p.Environment("dev"), p.Environment("prod")
	if dev == nil || prod == nil {
		t.Fatalf("want dev and prod, got %+v", p.Environments)
	}
	if dev.Branch != "main" || prod.PromoteFrom != "dev" || prod.After.Duration != 10*time.Minute || prod.Auto {
		t.Errorf("feeding: dev branch %q, prod from %q after %s auto %v", dev.Branch, prod.PromoteFrom, prod.After, prod.Auto)
	}
	if class, err := dev.IngressClass("app.dev.example.test"); err != nil || class != "nginx" {
		t.Errorf("dev ingress class = %q, %v; want nginx", class, err)
	}
	if !dev.KindAllowed("", "ConfigMap") || !dev.KindAllowed("kafka.nais.io", "Topic") || dev.KindAllowed("", "Secret") {
		t.Errorf("raw kinds %v", dev.RawKinds)
	}
	for _, team := range []string{"team-a", "team-b"} {
		tm := p.Team(team)
		if tm == nil || len(tm.Repositories) != 1 {
			t.Fatalf("team %s: %+v", team, tm)
		}
		if got, _ := p.TeamForRepository(tm.Repositories[0].URL); got != tm {
			t.Errorf("TeamForRepository(%s) = %v", tm.Repositories[0].URL, got)
		}
	}
	// Saturday noon in Oslo is inside the weekend deny window; it lifts Monday 07:00.
	oslo, _ := time.LoadLocation("Europe/Oslo")
	open, _, next := prod.WindowOpen(time.Date(2026, 11, 21, 12, 0, 0, 0, oslo))
	if open || !next.Equal(time.Date(2026, 11, 23, 7, 0, 0, 0, oslo)) {
		t.Errorf("prod window on Saturday: open %v next %v", open, next)
	}
	if open, _, _ := dev.WindowOpen(time.Date(2026, 11, 21, 12, 0, 0, 0, oslo)); !open {
		t.Error("dev has no windows and must always be open")
	}
}

// base is a valid config that the validation cases edit.
const base = `apiVersion: flyt.dev/v1alpha1
kind: Platform
environments:
  - name: dev
    cluster: {inCluster: true}
  - name: prod
    promoteFrom: dev
    cluster: {inCluster: true}
teams:
  - name: team-a
    repositories:
      - url: https://github.com/o/a
`

func TestValidation(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "apiVersion and kind",
			yaml: "apiVersion: v1\nkind: ConfigMap\nenvironments: [{name: dev, cluster: {inCluster: true}}]\n",
			want: []string{
				`p.yaml:1:13: apiVersion: "v1" is not supported; set it to flyt.dev/v1alpha1`,
				`p.yaml:2:7: kind: "ConfigMap" is not a platform config; set it to Platform`,
			},
		},
		{
			name: "missing apiVersion, kind, environments",
			yaml: "teams: []\n",
			want: []string{
				`p.yaml:1:1: apiVersion: missing; set it to flyt.dev/v1alpha1`,
				`p.yaml:1:1: environments: no environments; add at least one, such as {name: dev, branch: main, cluster: {inCluster: true}}`,
				`p.yaml:1:1: kind: missing; set it to Platform`,
			},
		},
		{
			name: "decode errors come first, with suggestions",
			yaml: strings.Replace(base, "promoteFrom: dev", "promotefrom: dev", 1),
			want: []string{`p.yaml:7:5: environments[1].promotefrom: unknown field "promotefrom"; did you mean "promoteFrom"?`},
		},
		{
			name: "decode and validation problems together, once per field",
			yaml: strings.Replace(strings.Replace(base, "cluster: {inCluster: true}", "cluster: [x]", 1), "promoteFrom: dev", "promoteFrom: qa\n    after:\n    timeout: soon", 1) + "server: {workers: many}\n",
			want: []string{
				`p.yaml:5:14: environments[0].cluster: expected a mapping, got a list`,
				`p.yaml:7:18: environments[1].promoteFrom: "qa" is not an earlier environment; use one of: dev`,
				`p.yaml:9:14: environments[1].timeout: invalid duration "soon": write it as "90s", "10m" or "1h30m"`,
				`p.yaml:15:19: server.workers: expected an integer, got string "many"`,
			},
		},
		{
			name: "duplicate environment",
			yaml: strings.Replace(base, "name: prod", "name: dev", 1),
			want: []string{
				`p.yaml:6:11: environments[1].name: duplicate environment "dev" (first at line 4); give each environment its own name`,
				`p.yaml:7:18: environments[1].promoteFrom: an environment cannot be promoted from itself; use one of: dev`,
			},
		},
		{
			name: "promoteFrom a later environment",
			yaml: strings.Replace(base, "promoteFrom: dev", "promoteFrom: qa", 1),
			want: []string{`p.yaml:7:18: environments[1].promoteFrom: "qa" is not an earlier environment; use one of: dev`},
		},
		{
			name: "first environment promoted",
			yaml: strings.Replace(base, "  - name: dev\n", "  - name: dev\n    promoteFrom: prod\n", 1),
			want: []string{`p.yaml:5:18: environments[0].promoteFrom: the first environment cannot be promoted to; feed it from a branch instead`},
		},
		{
			name: "branch and promoteFrom",
			yaml: strings.Replace(base, "promoteFrom: dev", "promoteFrom: dev\n    branch: main", 1),
			want: []string{`p.yaml:7:18: environments[1].promoteFrom: set either branch or promoteFrom, not both: an environment follows a branch or is promoted to`},
		},
		{
			name: "after and auto without promoteFrom",
			yaml: strings.Replace(base, "  - name: dev\n", "  - name: dev\n    after: 0s\n    auto: true\n", 1),
			want: []string{
				`p.yaml:5:12: environments[0].after: after is the soak time of a promotion; set promoteFrom too, or remove it`,
				`p.yaml:6:11: environments[0].auto: auto promotes from another environment; set promoteFrom too, or remove it`,
			},
		},
		{
			name: "durations",
			yaml: strings.Replace(base, "promoteFrom: dev", "promoteFrom: dev\n    after: soon\n    timeout: 10", 1),
			want: []string{
				`p.yaml:8:12: environments[1].after: invalid duration "soon": write it as "90s", "10m" or "1h30m"`,
				`p.yaml:9:14: environments[1].timeout: a duration is a string such as "10m" or "1h30m"`,
			},
		},
		{
			name: "cluster connection",
			yaml: strings.Replace(strings.Replace(base, "cluster: {inCluster: true}", "cluster: {context: x}", 1), "cluster: {inCluster: true}", "cluster: {inCluster: true, kubeconfig: k}", 1),
			want: []string{
				`p.yaml:5:5: environments[0].cluster: no cluster connection; set kubeconfig (and optionally context) or inCluster: true`,
				`p.yaml:5:24: environments[0].cluster.context: context picks a context in kubeconfig; set kubeconfig too`,
				`p.yaml:8:26: environments[1].cluster.inCluster: set either kubeconfig or inCluster, not both`,
			},
		},
		{
			name: "ingresses",
			yaml: strings.Replace(base, "  - name: prod\n", `    ingresses:
      - {domain: dev.example.test, class: nginx}
      - {domain: dev.example.test, class: ""}
      - {domain: "Bad_Domain", class: nginx}
  - name: prod
`, 1),
			want: []string{
				`p.yaml:8:18: environments[0].ingresses[1].domain: duplicate domain "dev.example.test" (first at line 7); map each domain to one class`,
				`p.yaml:8:43: environments[0].ingresses[1].class: missing ingress class for "dev.example.test", such as nginx`,
				`p.yaml:9:18: environments[0].ingresses[2].domain: "Bad_Domain" is not a DNS domain: use lowercase letters, digits, '-' and '.'`,
			},
		},
		{
			name: "raw kinds, integrations, namespace pattern",
			yaml: strings.Replace(base, "  - name: prod\n", `    rawKinds: [ConfigMap, configmap, nais/Topic, Namespace, ConfigMap]
    integrations: [kafka, Kafka]
    namespace: "{{team}}-{{cluster}}"
  - name: prod
`, 1),
			want: []string{
				`p.yaml:6:27: environments[0].rawKinds[1]: "configmap" is not a kind; write "Kind" for the core group or "group/Kind", such as ConfigMap or kafka.nais.io/Topic ("group/*" allows every kind of a group)`,
				`p.yaml:6:38: environments[0].rawKinds[2]: "nais/Topic" has no valid API group; write "Kind" for the core group or "group/Kind", such as ConfigMap or kafka.nais.io/Topic ("group/*" allows every kind of a group)`,
				`p.yaml:6:50: environments[0].rawKinds[3]: Namespace is cluster-scoped; teams may only ship namespaced kinds`,
				`p.yaml:6:61: environments[0].rawKinds[4]: "ConfigMap" is listed twice`,
				`p.yaml:7:27: environments[0].integrations[1]: "Kafka" is listed twice`,
				`p.yaml:8:16: environments[0].namespace: unknown variable {{cluster}}; the pattern may use {{team}} and {{env}}`,
			},
		},
		{
			name: "windows",
			yaml: strings.Replace(base, "  - name: prod\n", `    windows:
      - {action: block}
      - {action: deny, days: [Funday]}
      - {action: deny, start: "25:00"}
      - {action: deny, start: "Fri 15:00", end: "07:00"}
      - {action: allow, timeZone: Mars/Olympus}
  - name: prod
`, 1),
			want: []string{
				`p.yaml:7:18: environments[0].windows[0].action: "block" is not an action; use "allow" or "deny"`,
				`p.yaml:8:31: environments[0].windows[1].days[0]: "Funday" is not a weekday; write Mon, Tue, Wed, Thu, Fri, Sat, Sun (or the full name), or a range such as Mon-Fri`,
				`p.yaml:9:31: environments[0].windows[2].start: "25:00" is not a time of day; write "HH:MM" from 00:00 to 23:59, or "Fri 15:00" with a weekday`,
				`p.yaml:10:49: environments[0].windows[3].end: "07:00" is not a weekday and time; with a weekday in start or end write both as "Mon 07:00"`,
				`p.yaml:11:35: environments[0].windows[4].timeZone: "Mars/Olympus" is not an IANA time zone; use a name such as Europe/Oslo or UTC`,
			},
		},
		{
			name: "teams",
			yaml: base + `  - name: Team_B
  - name: team-a
    namespaces: {qa: x, dev: "Not OK"}
    notify: ["hooks.example.test"]
    repositories:
      - url: "not a url"
      - url: ""
      - url: https://GitHub.com/O/A.git
        tokenFile: t
        sshKeyFile: k
      - url: git@github.com:o/c.git
        tokenFile: t
      - url: https://github.com/o/d
        username: u
        knownHostsFile: kh
        path: ../up
`,
			want: []string{
				`p.yaml:13:11: teams[1].name: "Team_B" is not a valid team name: use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit`,
				`p.yaml:14:11: teams[2].name: duplicate team "team-a" (first at line 10); merge the two entries`,
				`p.yaml:15:22: teams[2].namespaces.qa: "qa" is not an environment; use one of: dev, prod`,
				`p.yaml:15:30: teams[2].namespaces.dev: "Not OK" is not a valid namespace: use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit`,
				`p.yaml:16:14: teams[2].notify[0]: not an absolute http(s) URL; write the full webhook URL`,
				`p.yaml:18:14: teams[2].repositories[0].url: "not a url" is not a repository URL; use https://host/owner/name.git, ssh://git@host/owner/name.git, git@host:owner/name.git or a local path`,
				`p.yaml:19:14: teams[2].repositories[1].url: missing repository URL, such as https://github.com/owner/name.git`,
				`p.yaml:20:14: teams[2].repositories[2].url: repository already belongs to team "team-a"; a repository deploys for one team only`,
				`p.yaml:22:21: teams[2].repositories[2].sshKeyFile: set either tokenFile (HTTPS) or sshKeyFile (SSH), not both`,
				`p.yaml:24:20: teams[2].repositories[3].tokenFile: a token needs an https:// URL, but url is "git@github.com:o/c.git"`,
				`p.yaml:26:19: teams[2].repositories[4].username: username goes with tokenFile; set tokenFile too, or remove it`,
				`p.yaml:27:25: teams[2].repositories[4].knownHostsFile: knownHostsFile goes with sshKeyFile; set sshKeyFile too, or remove it`,
				`p.yaml:28:15: teams[2].repositories[4].path: "../up" must be a folder inside the repository, without a leading / or ..`,
			},
		},
		{
			name: "namespace collision",
			yaml: base + `  - name: team-b
    namespaces: {prod: team-a}
  - name: team-c
    namespaces: {dev: shared}
  - name: shared
  - name: team-d
    namespaces: {dev: kube-system}
`,
			want: []string{
				`p.yaml:14:24: teams[1].namespaces.prod: namespace "team-a" in environment prod is also team team-a's; give each team its own namespace`,
				`p.yaml:17:11: teams[3].name: namespace "shared" in environment dev is also team team-c's; give each team its own namespace`,
				`p.yaml:19:23: teams[4].namespaces.dev: namespace "kube-system" in environment dev belongs to the cluster, not to a team; choose another`,
			},
		},
		{
			name: "remaining environment checks",
			yaml: `apiVersion: flyt.dev/v1alpha1
kind: Platform
environments:
  - name: dev
    branch: "feature branch"
    timeout: -1m
    cluster: {name: Dev_Cluster, inCluster: true}
    ingresses: [{domain: dev.example.test, class: "Nginx!"}]
    integrations: [""]
  - name: prod
    promoteFrom: dev
    after: -5m
    cluster: {inCluster: true}
`,
			want: []string{
				`p.yaml:5:13: environments[0].branch: "feature branch" is not a branch name; write it as it appears in git branch, such as main`,
				`p.yaml:6:14: environments[0].timeout: must be positive, such as 10m`,
				`p.yaml:7:21: environments[0].cluster.name: "Dev_Cluster" is not a valid cluster name: use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit`,
				`p.yaml:8:51: environments[0].ingresses[0].class: "Nginx!" is not an ingress class name: use lowercase letters, digits, '-' and '.'`,
				`p.yaml:9:20: environments[0].integrations[0]: empty integration name`,
				`p.yaml:12:12: environments[1].after: must not be negative`,
			},
		},
		{
			name: "remaining team and server checks",
			yaml: base + `  - name: team-b
    serviceAccount: "Deployer!"
    webhookSecretFiles: [""]
    repositories:
      - url: https://github.com/o/b
        sshKeyFile: key
        path: /abs
server:
  webhookSecretFiles: [""]
  historyDSN: "postgres://a b@%zz"
  github: {apiURL: "api.github.com", appID: 1}
`,
			want: []string{
				`p.yaml:14:21: teams[1].serviceAccount: "Deployer!" is not a service account name: use lowercase letters, digits, '-' and '.'`,
				`p.yaml:15:26: teams[1].webhookSecretFiles[0]: empty file name`,
				`p.yaml:18:21: teams[1].repositories[0].sshKeyFile: an SSH key needs an SSH URL (ssh://… or git@host:owner/name), but url is "https://github.com/o/b"`,
				`p.yaml:19:15: teams[1].repositories[0].path: "/abs" must be a folder inside the repository, without a leading / or ..`,
				`p.yaml:21:24: server.webhookSecretFiles[0]: empty file name`,
				`p.yaml:22:15: server.historyDSN: not a valid PostgreSQL URL: invalid URL escape "%zz"`,
				`p.yaml:23:3: server.github: a GitHub App needs all of appID, installationID and privateKeyFile`,
				`p.yaml:23:20: server.github.apiURL: "api.github.com" is not an absolute http(s) URL`,
			},
		},
		{
			name: "server",
			yaml: base + `server:
  listen: "8080"
  externalURL: flyt.example.test
  pollInterval: -1m
  workers: -2
  historyDSN: mysql://x
  github: {tokenFile: t, appID: 3}
  retention: {days: -1}
`,
			want: []string{
				`p.yaml:14:11: server.listen: "8080" is not a listen address; write host:port or :port, such as :8080`,
				`p.yaml:15:16: server.externalURL: "flyt.example.test" is not an absolute http(s) URL; write it as https://flyt.example.test`,
				`p.yaml:16:17: server.pollInterval: must be positive, such as 1m`,
				`p.yaml:17:12: server.workers: must be positive; leave it out for 16`,
				`p.yaml:18:15: server.historyDSN: unsupported; use sqlite:///path/to/flyt.db, postgres://user@host/db, host=… dbname=… (PostgreSQL keyword/value), or leave it out for SQLite in dataDir`,
				`p.yaml:19:23: server.github.tokenFile: set either tokenFile or a GitHub App (appID, installationID, privateKeyFile), not both`,
				`p.yaml:20:21: server.retention.days: must be positive (days of history to keep); leave it out to keep every deploy`,
			},
		},
		{
			name: "namespace pattern, missing ingress domain, window shapes",
			yaml: strings.Replace(base, "  - name: prod\n", `    namespace: "{{team}}_{{env}}"
    ingresses: [{class: nginx}]
    windows:
      - {days: [Mon]}
      - {action: deny, start: "Fri 15:00", end: "Fri 15:00"}
      - {action: allow, days: [Mon], start: "Fri 15:00", end: "Mon 07:00"}
  - name: prod
`, 1),
			want: []string{
				`p.yaml:6:16: environments[0].namespace: "{{team}}_{{env}}" does not make valid namespace names: use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit`,
				`p.yaml:7:17: environments[0].ingresses[0].domain: missing domain, such as dev.example.test`,
				`p.yaml:9:9: environments[0].windows[0].action: missing; set it to "allow" or "deny"`,
				`p.yaml:10:49: environments[0].windows[1].end: equals start; the window would be empty`,
				`p.yaml:11:25: environments[0].windows[2].days: leave days out when start and end name weekdays`,
			},
		},
		{
			name: "missing names",
			yaml: `apiVersion: flyt.dev/v1alpha1
kind: Platform
environments:
  - branch: main
    cluster: {inCluster: true}
teams:
  - repositories:
      - url: https://github.com/o/a
`,
			want: []string{
				`p.yaml:4:5: environments[0].name: missing environment name`,
				`p.yaml:7:5: teams[0].name: missing team name`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("p.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("want errors, got none (platform %+v)", p)
			}
			var got []string
			for _, e := range yamlpos.Errors(err) {
				got = append(got, e.Error())
			}
			if len(got) == 0 {
				t.Fatalf("error without positions: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestCredentialsRefused: a repository URL or DSN with a secret in it is refused (a URL) or
// reported (a DSN that does not parse) naming the file, line and field, and no message quotes
// the secret or any part of it.
func TestCredentialsRefused(t *testing.T) {
	yaml := base + `  - name: team-b
    repositories:
      - url: https://x-access-token:ghp_hemmelig0123456789@github.com/o/b.git
      - url: https://ghp_hemmelig0123456789@github.com/o/c.git
      - url: ssh://git:hemmelig@github.com/o/d.git
        sshKeyFile: key
        knownHostsFile: known_hosts
      - url: "git:hem@melig@github.com:o/e.git"
server:
  historyDSN: "postgres://flyt:hem%zzmelig@db/flyt"
`
	_, err := Parse("p.yaml", []byte(yaml))
	var got []string
	for _, e := range yamlpos.Errors(err) {
		got = append(got, e.Error())
	}
	want := []string{
		`p.yaml:15:14: teams[1].repositories[0].url: "https://REDACTED@github.com/o/b.git" has credentials in the URL; remove them and put the token in a file named by tokenFile (the user, if the host wants one, in username): the URL is shown in logs, the history and the UI`,
		`p.yaml:16:14: teams[1].repositories[1].url: "https://REDACTED@github.com/o/c.git" has credentials in the URL; remove them and put the token in a file named by tokenFile (the user, if the host wants one, in username): the URL is shown in logs, the history and the UI`,
		`p.yaml:17:14: teams[1].repositories[2].url: "ssh://REDACTED@github.com/o/d.git" has credentials in the URL; remove them: an SSH repository authenticates with a key, so put it in a file and name it in sshKeyFile (with knownHostsFile)`,
		`p.yaml:20:14: teams[1].repositories[3].url: "REDACTED@github.com:o/e.git" has credentials in the URL; remove them: an SSH repository authenticates with a key, so put it in a file and name it in sshKeyFile (with knownHostsFile)`,
		`p.yaml:22:15: server.historyDSN: not a valid PostgreSQL URL: the user name or password has a character that must be percent-encoded in a URL (such as @ : / ? # % or a space); encode it, or keep the password out of the URL`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, part := range []string{"hemmelig", "melig", "ghp_", "hem@"} {
		if err != nil && strings.Contains(err.Error(), part) {
			t.Errorf("the error quotes (part of) a secret, %q: %v", part, err)
		}
	}
}

// TestKeywordDSNAccepted: PostgreSQL's keyword/value form is a history DSN like a URL.
func TestKeywordDSNAccepted(t *testing.T) {
	p, err := Parse("p.yaml", []byte(base+"server:\n  historyDSN: host=db user=flyt password=s3cret dbname=flyt\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Server.HistoryDSN, "host=db user=flyt password=s3cret dbname=flyt"; got != want {
		t.Errorf("historyDSN = %q, want %q", got, want)
	}
}

func TestBaseIsValid(t *testing.T) {
	if _, err := Parse("p.yaml", []byte(base)); err != nil {
		t.Fatal(err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !os.IsNotExist(err) && !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("want a not-exist error, got %v", err)
	}
}
