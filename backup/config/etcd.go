package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// EtcdClientConfig is the etcd client configuration, with the TLS material
// loaded and checked so that a wrong file is named now, not as a vague
// handshake failure on the first request.
func (c *Config) EtcdClientConfig() (clientv3.Config, error) {
	cc := clientv3.Config{
		Endpoints:   c.Etcd.Endpoints,
		DialTimeout: c.Etcd.DialTimeout.Duration,
		// The client's own logging is noise next to our wrapped errors.
		Logger: zap.NewNop(),
	}
	if c.Etcd.CAFile == "" && c.Etcd.CertFile == "" {
		return cc, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.Etcd.CAFile != "" {
		pem, err := os.ReadFile(c.Etcd.CAFile)
		if err != nil {
			return cc, fmt.Errorf("etcd.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return cc, fmt.Errorf("etcd.ca_file %s: no PEM certificate in it", c.Etcd.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.Etcd.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(c.Etcd.CertFile, c.Etcd.KeyFile)
		if err != nil {
			return cc, fmt.Errorf("etcd.cert_file %s / etcd.key_file %s: %w", c.Etcd.CertFile, c.Etcd.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	cc.TLS = tc
	return cc, nil
}

// NewEtcdClient connects to etcd (lazily: the first request dials).
func (c *Config) NewEtcdClient() (*clientv3.Client, error) {
	cc, err := c.EtcdClientConfig()
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(cc)
	if err != nil {
		return nil, fmt.Errorf("etcd %v: %w", c.Etcd.Endpoints, err)
	}
	return cli, nil
}
