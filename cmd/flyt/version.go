package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at link time with -ldflags "-X main.version=…"; the module version from the
// build info is used otherwise.
var version = ""

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print flyt's version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, commit, goVersion := buildVersion()
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "flyt %s\ncommit: %s\ngo: %s\n", v, commit, goVersion)
			return err
		},
	}
}

// buildVersion reads the version, VCS commit and Go version from the binary's build info.
func buildVersion() (v, commit, goVersion string) {
	v, commit, goVersion = version, "unknown", "unknown"
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v, commit, goVersion
	}
	goVersion = info.GoVersion
	if v == "" {
		v = info.Main.Version
	}
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty {
		commit += "-dirty"
	}
	if v == "" {
		v = "(devel)"
	}
	return v, commit, goVersion
}
