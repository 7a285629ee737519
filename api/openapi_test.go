package api

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

// TestOpenAPIMatchesRoutes fails when the route table registers a route the OpenAPI document
// does not describe, or the document describes one the table lacks.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	srv := serve(t, Options{Store: openStore(t)})
	status, body := call(t, "GET", srv.URL+"/api/v1/openapi.yaml", "")
	if status != http.StatusOK {
		t.Fatalf("GET openapi.yaml = %d", status)
	}
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Servers []struct{ URL string }               `json:"servers"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := yaml.Unmarshal(body, &doc); err != nil {
		t.Fatalf("openapi.yaml does not parse: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0") || len(doc.Servers) != 1 || doc.Servers[0].URL != apiPrefix {
		t.Fatalf("openapi %q servers %+v, want 3.0.x served at %s", doc.OpenAPI, doc.Servers, apiPrefix)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if method == "parameters" {
				continue
			}
			documented = append(documented, strings.ToUpper(method)+" "+path)
			if _, ok := op["responses"]; !ok {
				t.Errorf("%s %s has no responses", method, path)
			}
			for _, name := range pathParams(path) {
				if !declaresParam(op, name) {
					t.Errorf("%s %s does not declare its path parameter %s", method, path, name)
				}
			}
		}
	}
	var registered []string
	for _, rt := range apiRoutes {
		registered = append(registered, rt.method+" "+rt.path)
	}
	slices.Sort(documented)
	slices.Sort(registered)
	if diff := cmp.Diff(registered, documented); diff != "" {
		t.Errorf("routes registered (-) and documented (+) differ:\n%s", diff)
	}

	// Every registered route is really served (none falls through to the 404 handler).
	for _, rt := range apiRoutes {
		if rt.path == "/events" {
			continue // streams; TestEvents covers it
		}
		path := strings.NewReplacer("{id}", "1", "{app}", "dp-behandling", "{env}", "prod").Replace(rt.path)
		_, body := call(t, rt.method, srv.URL+apiPrefix+path, "")
		if strings.Contains(string(body), "no such API route") {
			t.Errorf("%s %s is in the table but not served", rt.method, path)
		}
	}
}

func pathParams(path string) []string {
	var out []string
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, strings.Trim(seg, "{}"))
		}
	}
	return out
}

func declaresParam(op map[string]any, name string) bool {
	params, _ := op["parameters"].([]any)
	for _, p := range params {
		m, _ := p.(map[string]any)
		if m["name"] == name && m["in"] == "path" && m["required"] == true {
			return true
		}
	}
	return false
}
