// Package deploycheck validates the deployment artifacts under deploy/
// offline, with the real parsers and loaders of each ecosystem: BuildKit's
// Dockerfile parser and linter, compose-go, kustomize and the Kubernetes and
// prometheus-operator API types, systemd-analyze, and the project's own
// binaries started with the shipped configs. The heavy modules live here so
// that the product's go.mod stays small.
package deploycheck
