package environments

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/flyt-platform/flyt/internal/yamlpos"
)

// Limits bound what one team repository can make flyt read, parse and build. A team's
// repository is hostile input on a shared platform: without these, one small commit (a YAML
// alias bomb, a template nested 100,000 deep, a 50 MB manifest) could take the memory or the
// stack of the process that deploys every other team. A limit that is hit fails the render
// of that app with a message naming the file, the limit and this setting; nothing else stops.
//
// Every field left out (or 0) takes its default; the defaults leave room for the largest
// real NAIS repositories flyt has seen, many times over.
type Limits struct {
	// FileSize is the largest file flyt reads from a repository (manifests, vars files,
	// .flyt.yaml). Default 1Mi, the most a ConfigMap may hold.
	FileSize ByteSize `json:"fileSize,omitempty"`
	// RepoFiles is how many files (and directory entries listed) one load of a repository may
	// read. Default 2000.
	RepoFiles int `json:"repoFiles,omitempty"`
	// RepoSize is how many bytes one load of a repository may read in all. Default 8Mi: a
	// loaded repository stays in memory while it is deployed.
	RepoSize ByteSize `json:"repoSize,omitempty"`
	// YAMLValues is how many values (maps, lists and scalars) one YAML document may hold once
	// its aliases are expanded, and all the files of one app in one environment together. It
	// is what stops an alias bomb ("billion laughs"), where 600 bytes expand to gigabytes, and
	// it bounds the memory of one render (about 250 bytes a value). Default 100000, hundreds of
	// times what a large app renders from.
	YAMLValues int `json:"yamlValues,omitempty"`
	// YAMLDepth is how deeply maps and lists may nest in one YAML or JSON document. Default 100;
	// Kubernetes objects nest about 10 deep.
	YAMLDepth int `json:"yamlDepth,omitempty"`
	// TemplateDepth is how deeply Handlebars blocks ({{#if}}, {{#each}} …) and subexpressions
	// may nest in one file. Default 32.
	TemplateDepth int `json:"templateDepth,omitempty"`
	// TemplateOutput is the most the files of one app may expand to through their templates,
	// in one environment, in all. Default 4Mi.
	TemplateOutput ByteSize `json:"templateOutput,omitempty"`
	// Objects is how many Kubernetes objects one app may render to in one environment.
	// Default 500.
	Objects int `json:"objects,omitempty"`
	// ObjectSize is the largest object, encoded as JSON, that flyt sends to a cluster. Default
	// 1Mi: flyt refuses a bigger one before the API server does (which accepts request bodies
	// up to 3Mi, 3145728 bytes, while etcd stores objects up to 1.5Mi by default).
	ObjectSize ByteSize `json:"objectSize,omitempty"`
}

// The defaults of Limits.
const (
	DefaultFileSize       = 1 << 20
	DefaultRepoFiles      = 2000
	DefaultRepoSize       = 8 << 20
	DefaultYAMLValues     = yamlpos.DefaultValues
	DefaultYAMLDepth      = yamlpos.DefaultDepth
	DefaultTemplateDepth  = 32
	DefaultTemplateOutput = 4 << 20
	DefaultObjects        = 500
	DefaultObjectSize     = 1 << 20
	// APIServerRequestLimit is the largest request body a kube-apiserver accepts (its
	// --max-request-bytes default, 3 MiB); flyt's messages quote it beside ObjectSize.
	APIServerRequestLimit = 3 << 20
)

// WithDefaults returns l with every field left out set to its default.
func (l Limits) WithDefaults() Limits {
	def := func(v *ByteSize, d int64) {
		if *v == 0 {
			*v = ByteSize(d)
		}
	}
	defInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.FileSize, DefaultFileSize)
	defInt(&l.RepoFiles, DefaultRepoFiles)
	def(&l.RepoSize, DefaultRepoSize)
	defInt(&l.YAMLValues, DefaultYAMLValues)
	defInt(&l.YAMLDepth, DefaultYAMLDepth)
	defInt(&l.TemplateDepth, DefaultTemplateDepth)
	def(&l.TemplateOutput, DefaultTemplateOutput)
	defInt(&l.Objects, DefaultObjects)
	def(&l.ObjectSize, DefaultObjectSize)
	return l
}

// DefaultLimits are the limits of a platform.yaml that sets none.
func DefaultLimits() Limits { return Limits{}.WithDefaults() }

// YAML returns the limits that bound one YAML document.
func (l Limits) YAML() yamlpos.Limits {
	l = l.WithDefaults()
	return yamlpos.Limits{Values: l.YAMLValues, Depth: l.YAMLDepth}
}

// limits reports every negative limit.
func (v *validator) limits() {
	l := v.p.Limits
	sizes := []struct {
		name string
		v    ByteSize
	}{{"fileSize", l.FileSize}, {"repoSize", l.RepoSize}, {"templateOutput", l.TemplateOutput}, {"objectSize", l.ObjectSize}}
	for _, s := range sizes {
		if s.v < 0 {
			v.errorf("limits."+s.name, "must be a positive size such as 1Mi or 512Ki; leave it out for the default")
		}
	}
	counts := []struct {
		name string
		v    int
	}{{"repoFiles", l.RepoFiles}, {"yamlValues", l.YAMLValues}, {"yamlDepth", l.YAMLDepth}, {"templateDepth", l.TemplateDepth}, {"objects", l.Objects}}
	for _, c := range counts {
		if c.v < 0 {
			v.errorf("limits."+c.name, "must be positive; leave it out for the default")
		}
	}
}

// ByteSize is a number of bytes, written in platform.yaml as a plain number (1048576) or as a
// Kubernetes quantity (1Mi, 512Ki, 2M).
type ByteSize int64

// String writes the size for people, rounded to a tenth in the largest binary unit it fills:
// 1Mi, 1.1Mi, 512Ki, 900 bytes.
func (b ByteSize) String() string {
	for _, u := range []struct {
		suffix string
		size   float64
	}{{"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if v := float64(b) / u.size; v >= 1 {
			return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) + u.suffix
		}
	}
	return strconv.FormatInt(int64(b), 10) + " bytes"
}

// MarshalJSON writes the size exactly, as a Kubernetes quantity (1Mi, or the number of bytes).
func (b ByteSize) MarshalJSON() ([]byte, error) {
	return json.Marshal(resource.NewQuantity(int64(b), resource.BinarySI).String())
}

// UnmarshalJSON reads a number of bytes or a quantity string; null keeps the default.
func (b *ByteSize) UnmarshalJSON(data []byte) error {
	s := string(data)
	if s == "null" {
		return nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		*b = ByteSize(n)
		return nil
	}
	var str string
	if err := json.Unmarshal(data, &str); err != nil {
		return fmt.Errorf("a size is a number of bytes or a quantity such as 1Mi or 512Ki")
	}
	q, err := resource.ParseQuantity(str)
	if err != nil {
		return fmt.Errorf("invalid size %q: write it as a number of bytes or a quantity such as 1Mi or 512Ki", str)
	}
	*b = ByteSize(q.Value())
	return nil
}
