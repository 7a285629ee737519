// Package examples holds example platform configs and team repositories. Every one of them is
// rendered in a test so that they never go stale; the demo serves them as Git repositories.
package examples
