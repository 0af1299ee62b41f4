// Package monitoring ships etcdguard's Prometheus alerting rules
// (alerts.yaml; see README.md for what feeds them).
package monitoring

import _ "embed"

// Alerts is alerts.yaml.
//
//go:embed alerts.yaml
var Alerts []byte
