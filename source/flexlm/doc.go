// Package flexlm is the source for FlexNet Publisher (FlexLM) license
// servers. Each poll runs `lmutil lmstat -a -c <license_server>` (never
// through a shell, in its own process group, with a minimal environment),
// parses the answer (parse.go: pure, clock passed in) and maps it onto
// the source model (mapping.go). docs/architecture.md pins the config
// keys, the mapping and the extra series.
package flexlm
