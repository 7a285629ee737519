package environments

import (
	"encoding/json"
	"fmt"
	"time"
)

// APIVersion and Kind identify a platform config document, so a team manifest handed to flyt
// as its platform config (or the other way round) is refused instead of half-read.
const (
	APIVersion = "flyt.dev/v1alpha1"
	Kind       = "Platform"
)

// Platform is the operators' config: the environments teams deploy to, the teams and their
// repositories, and the settings of the flyt server itself. It is read from platform.yaml.
type Platform struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`

	// Server holds the settings of `flyt serve`.
	Server Server `json:"server,omitempty"`

	// Environments are ordered: the first ones are usually fed from a branch, later ones by
	// promotion from an earlier one.
	Environments []Environment `json:"environments"`

	// Teams are the tenants of the platform.
	Teams []Team `json:"teams"`

	// Limits bound what one team repository can make flyt read and build (see Limits). They
	// apply to every team, in `flyt serve` and in `flyt render` and `validate` alike.
	Limits Limits `json:"limits,omitempty"`
}

// Server configures the long-running controller process.
type Server struct {
	// HistoryDSN selects the history store: empty for SQLite in DataDir, "sqlite:///path/to.db"
	// for a named SQLite file, "postgres://…" for PostgreSQL (needed for several replicas), or
	// PostgreSQL's keyword/value form, "host=db user=flyt dbname=flyt sslmode=require", which
	// is PostgreSQL too (never a SQLite file named after the string). A password is best kept
	// out of it (pgx reads PGPASSWORD and a passfile); errors, logs and /readyz never quote one.
	HistoryDSN string `json:"historyDSN,omitempty"`
	// DataDir holds the embedded history database and the Git caches. Default: ./flyt-data.
	DataDir string `json:"dataDir,omitempty"`
	// Listen is the address of the API, UI, webhooks and metrics. Default: ":8080".
	Listen string `json:"listen,omitempty"`
	// ExternalURL is how users reach this server; it makes links in GitHub statuses and
	// notifications. Default: http:// plus Listen.
	ExternalURL string `json:"externalURL,omitempty"`
	// PollInterval is how often every repository is checked without a webhook. Default 1m,
	// jittered by ±10 %.
	PollInterval Duration `json:"pollInterval,omitempty"`
	// Workers is how many (app, environment) deploys run at once. Default 16: most of a
	// deploy is waiting for readiness, which costs the API server a GET per object per poll,
	// not CPU, so more workers than cores pay off (bench: 16 workers deployed 200
	// app-environments in 65 s where 4 took 116 s).
	Workers int `json:"workers,omitempty"`
	// TeamWorkers is how many of the workers one team's deploys may hold at once, so that one
	// team's slow Git server or stuck deploys leave workers for every other team. Default
	// max(1, workers/4).
	TeamWorkers int `json:"teamWorkers,omitempty"`
	// WebhookSecretFiles hold platform-wide GitHub webhook secrets, one per file. Several may be
	// valid at once so that secrets can be rotated.
	WebhookSecretFiles []string `json:"webhookSecretFiles,omitempty"`
	// GitHub configures outbound deployment statuses.
	GitHub GitHub `json:"github,omitempty"`
	// AllowMassPrune lets a single render delete more than half of a team's apps in an
	// environment. Off by default: such a change is held and reported.
	AllowMassPrune bool `json:"allowMassPrune,omitempty"`
	// Retention, when Days is set, exports and then deletes finished deploys older than Days.
	// Off by default: flyt keeps every deploy.
	Retention Retention `json:"retention,omitempty"`
}

// Retention is the optional history retention policy.
type Retention struct {
	// Days is how many days of deploys to keep; 0 keeps them all.
	Days int `json:"days,omitempty"`
	// ExportDir receives the deploys before they are deleted, one JSON object per line in a
	// file per run (flyt-history-<time>.jsonl). Default: <dataDir>/history-export.
	ExportDir string `json:"exportDir,omitempty"`
}

// GitHub configures how flyt talks to the GitHub API: a token file, or a GitHub App.
type GitHub struct {
	// APIURL defaults to https://api.github.com.
	APIURL string `json:"apiURL,omitempty"`
	// TokenFile holds a personal access or fine-grained token.
	TokenFile string `json:"tokenFile,omitempty"`
	// AppID, InstallationID and PrivateKeyFile configure a GitHub App instead of a token, which
	// gives flyt its own identity and short-lived tokens.
	AppID int64 `json:"appID,omitempty"`
	// InstallationID is the App's installation on the organisation that owns the repositories.
	InstallationID int64 `json:"installationID,omitempty"`
	// PrivateKeyFile holds the App's PEM private key.
	PrivateKeyFile string `json:"privateKeyFile,omitempty"`
	// CommitStatuses also sets a commit status per deploy beside the Deployment status.
	CommitStatuses bool `json:"commitStatuses,omitempty"`
}

// Environment is a named deploy target: one cluster and the policies that hold in it.
type Environment struct {
	// Name is what teams and operators call it: dev, prod, dev-gcp …
	Name string `json:"name"`
	// Cluster says how to reach the environment's Kubernetes API.
	Cluster Cluster `json:"cluster"`
	// Namespace is the pattern of a team's namespace, with {{team}} and {{env}}. Default "{{team}}".
	// A team's own Namespaces entry wins over it.
	Namespace string `json:"namespace,omitempty"`
	// Ingresses map host domains to ingress classes. A host must end in one of these domains.
	Ingresses []IngressDomain `json:"ingresses,omitempty"`
	// Integrations lists the Application spec integrations the environment's operators support
	// (gcp, kafka, azure, idporten …). Anything else renders with a warning (an error if Strict).
	Integrations []string `json:"integrations,omitempty"`
	// RawKinds lists the kinds teams may ship beside Applications, as "Kind" for the core group or
	// "group/Kind" (for example "ConfigMap", "kafka.nais.io/Topic"). Namespaced kinds only.
	RawKinds []string `json:"rawKinds,omitempty"`
	// Image is the default image pattern, e.g. "registry.example/{{team}}/{{app}}:{{commit}}".
	Image string `json:"image,omitempty"`
	// Strict turns render warnings (undefined variables, unsupported integrations) into errors.
	Strict bool `json:"strict,omitempty"`

	// Branch feeds the environment from a branch: every new commit deploys. Exclusive with
	// PromoteFrom.
	Branch string `json:"branch,omitempty"`
	// PromoteFrom feeds the environment with revisions that ran successfully in another one.
	PromoteFrom string `json:"promoteFrom,omitempty"`
	// After is how long a revision must have run successfully in PromoteFrom before it may be
	// promoted (its soak time).
	After Duration `json:"after,omitempty"`
	// Auto promotes by itself once After has passed.
	Auto bool `json:"auto,omitempty"`

	// Windows hold automatic deploys outside allowed times, or inside denied ones.
	Windows []Window `json:"windows,omitempty"`
	// Suspended holds every automatic deploy and refuses promotions until lifted.
	Suspended bool `json:"suspended,omitempty"`
	// Timeout bounds waiting for a deploy's objects to become ready. Default 10m.
	Timeout Duration `json:"timeout,omitempty"`
	// WaitForImages checks that every image exists in its registry before applying.
	WaitForImages bool `json:"waitForImages,omitempty"`
}

// Cluster says how to reach a Kubernetes API server.
type Cluster struct {
	// Name is the cluster's name as apps see it (NAIS_CLUSTER_NAME). Default: the environment's name.
	Name string `json:"name,omitempty"`
	// Kubeconfig is a path to a kubeconfig file, relative to the platform file's folder unless
	// absolute.
	Kubeconfig string `json:"kubeconfig,omitempty"`
	// Context picks a context in Kubeconfig (default: its current context), so one file can
	// serve several environments.
	Context string `json:"context,omitempty"`
	// InCluster uses the service account flyt runs as.
	InCluster bool `json:"inCluster,omitempty"`
}

// IngressDomain maps hosts under Domain to an ingress class.
type IngressDomain struct {
	// Domain is a DNS suffix such as "dev.example.test"; it matches itself and every host below it.
	// When several domains match a host, the longest wins, so "internal.dev.example.test" can use
	// another class than "dev.example.test".
	Domain string `json:"domain"`
	// Class is the IngressClass name that serves the domain in this environment's cluster.
	Class string `json:"class"`
}

// Window is a weekly time range in which automatic deploys are allowed or denied.
type Window struct {
	// Action is "allow" or "deny". With any allow window, deploys outside all allow windows are held.
	Action string `json:"action"`
	// Days are weekday names (Mon, Tue … or Monday …); empty means every day.
	Days []string `json:"days,omitempty"`
	// Start and End are "HH:MM" in TimeZone on each of Days; End may be before Start to cross
	// midnight, "24:00" means the end of the day, and leaving both out means the whole day.
	// For a range that spans days (a weekend freeze), write both with a weekday and leave Days
	// out: start "Fri 15:00", end "Mon 07:00".
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
	// TimeZone is an IANA zone name. Default Europe/Oslo.
	TimeZone string `json:"timeZone,omitempty"`
}

// Team is a tenant: it owns namespaces and the repositories it may deploy from.
type Team struct {
	// Name identifies the team in labels, namespaces and the history; a DNS-1123 label.
	Name string `json:"name"`
	// Namespaces maps an environment name to the team's namespace there; unlisted environments
	// use the environment's namespace pattern.
	Namespaces map[string]string `json:"namespaces,omitempty"`
	// Repositories the team deploys from.
	Repositories []Repository `json:"repositories"`
	// WebhookSecretFiles hold secrets valid for webhooks about this team's repositories, beside
	// the platform-wide ones.
	WebhookSecretFiles []string `json:"webhookSecretFiles,omitempty"`
	// ServiceAccount, when set, is impersonated for every write in the team's namespace
	// (system:serviceaccount:<namespace>:<name>), so the cluster's RBAC enforces tenancy too.
	ServiceAccount string `json:"serviceAccount,omitempty"`
	// Notify lists Slack-compatible webhook URLs told when a deploy finishes.
	Notify []string `json:"notify,omitempty"`
}

// Repository is a team Git repository that flyt watches.
type Repository struct {
	// URL is the clone URL (https://…, ssh://…, git@host:owner/name.git or a local path).
	URL string `json:"url"`
	// Branch is the branch that feeds branch-fed environments. Default "main".
	Branch string `json:"branch,omitempty"`
	// Path is the folder inside the repository that holds its apps. Default: the root.
	Path string `json:"path,omitempty"`
	// TokenFile holds an HTTPS token (sent as basic auth with Username, default "x-access-token").
	TokenFile string `json:"tokenFile,omitempty"`
	// Username goes with TokenFile; GitHub ignores it, other hosts want their own.
	Username string `json:"username,omitempty"`
	// SSHKeyFile holds a private key for SSH clone URLs; exclusive with TokenFile.
	SSHKeyFile string `json:"sshKeyFile,omitempty"`
	// KnownHostsFile pins the SSH host keys; without it the system's known_hosts is used.
	KnownHostsFile string `json:"knownHostsFile,omitempty"`
}

// Duration is a time.Duration written as "90s", "10m" or "1h30m" in YAML and JSON.
type Duration struct{ time.Duration }

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a Go duration string such as "10m"; null (a key left empty) keeps the
// default.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"10m\" or \"1h30m\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: write it as \"90s\", \"10m\" or \"1h30m\"", s)
	}
	d.Duration = v
	return nil
}
