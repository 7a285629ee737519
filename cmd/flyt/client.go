package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/flyt-platform/flyt/api"
)

// defaultServer is where the CLI finds a flyt server when neither --server nor $FLYT_SERVER says.
const defaultServer = "http://localhost:8080"

// clientOptions are the flags of every verb that talks to a flyt server.
type clientOptions struct {
	server string
	as     string
}

// bindFlags adds --server and --as to cmd.
func (o *clientOptions) bindFlags(cmd *cobra.Command) {
	server := os.Getenv("FLYT_SERVER")
	if server == "" {
		server = defaultServer
	}
	cmd.Flags().StringVar(&o.server, "server", server, "address of the flyt server ($FLYT_SERVER sets the default)")
	cmd.Flags().StringVar(&o.as, "as", os.Getenv("USER"), "who you are, sent as "+api.UserHeader+" ($USER sets the default); an authenticating proxy in front of flyt may replace it")
}

// client returns an API client for the flags given.
func (o *clientOptions) client() *apiClient {
	return &apiClient{base: strings.TrimSuffix(o.server, "/") + "/api/v1", user: o.as, http: &http.Client{Timeout: 60 * time.Second}}
}

// apiClient calls a flyt server's JSON API.
type apiClient struct {
	base string
	user string
	http *http.Client
}

// apiError is an error answer of the API.
type apiError struct {
	status int
	body   api.ErrorBody
}

func (e *apiError) Error() string {
	if e.body.Error == "" {
		return fmt.Sprintf("flyt server answered %d %s", e.status, http.StatusText(e.status))
	}
	return e.body.Error
}

// do sends a request with an optional JSON body and decodes a JSON answer into out (when not nil).
func (c *apiClient) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.user != "" {
		req.Header.Set(api.UserHeader, c.user)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("reach flyt server: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("read answer of %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		e := &apiError{status: resp.StatusCode}
		_ = json.Unmarshal(data, &e.body) // a non-JSON answer keeps the status-only message
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", method, path, err)
	}
	return nil
}

// outputFormat is the -o flag: table (default), json or yaml.
type outputFormat string

func bindOutput(cmd *cobra.Command, o *outputFormat) {
	*o = "table"
	cmd.Flags().StringVarP((*string)(o), "output", "o", "table", "output format: table, json or yaml")
}

// validate fails for formats other than table, json and yaml.
func (o outputFormat) validate() error {
	switch o {
	case "table", "json", "yaml":
		return nil
	}
	return fmt.Errorf("--output %q: want table, json or yaml", string(o))
}

// print writes v as JSON or YAML, or calls table with an aligned tab writer.
func (o outputFormat) print(w io.Writer, v any, table func(tw *tabwriter.Writer)) error {
	switch o {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("write JSON: %w", err)
		}
		return nil
	case "yaml":
		data, err := yaml.Marshal(v)
		if err != nil {
			return fmt.Errorf("write YAML: %w", err)
		}
		_, err = w.Write(data)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	table(tw)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// shortSHA is a commit's first 7 characters, "-" for none.
func shortSHA(sha string) string {
	switch {
	case sha == "":
		return "-"
	case len(sha) > 7:
		return sha[:7]
	}
	return sha
}

// orDash prints "-" for an empty table cell, as kubectl prints <none>.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// tableTime prints a time for tables: UTC to the minute, "-" when zero.
func tableTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

// refusal returns the server's answer when err is a policy refusal (409 with a reason).
func refusal(err error) (*apiError, bool) {
	var ae *apiError
	if errors.As(err, &ae) && ae.status == http.StatusConflict && ae.body.Reason != "" {
		return ae, true
	}
	return nil, false
}
