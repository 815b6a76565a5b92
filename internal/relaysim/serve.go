package relaysim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Server is a Sim listening on a loopback address.
type Server struct {
	// Sim is the relay being served; change its faults at runtime with
	// Sim.SetFaults.
	Sim *Sim
	// Addr is the address it listens on (host:port, with the port chosen
	// when the requested one was 0).
	Addr string
	// URL is "http://" + Addr.
	URL  string
	srv  *http.Server
	done chan error
}

// checkLoopback fails unless addr (host:port) names a loopback host:
// "localhost", 127.0.0.0/8 or ::1. The simulator is a test fixture and never
// listens on other interfaces.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("relaysim: address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("relaysim: address %q is not a loopback address (use 127.0.0.1:PORT)", addr)
}

// Start builds a Sim from cfg and serves it on addr, which must be a
// loopback address ("127.0.0.1:0" picks a free port). Stop it with Close or
// Shutdown.
func Start(addr string, cfg Config) (*Server, error) {
	sim, err := New(cfg)
	if err != nil {
		return nil, err
	}
	return listen(addr, sim)
}

// listen serves sim on addr, which must be a loopback address.
func listen(addr string, sim *Sim) (*Server, error) {
	if err := checkLoopback(addr); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("relaysim: %w", err)
	}
	s := &Server{
		Sim:  sim,
		Addr: l.Addr().String(),
		srv: &http.Server{
			Handler:           sim,
			ReadHeaderTimeout: 10 * time.Second,
			// The simulator drops connections on purpose (crash); keep
			// the standard library's "http: ..." noise out of the output.
			ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError),
		},
		done: make(chan error, 1),
	}
	s.URL = "http://" + s.Addr
	go func() {
		err := s.srv.Serve(l)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	return s, nil
}

// Shutdown stops accepting connections and waits for in-flight requests
// until ctx ends, then closes the rest.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	if serr := <-s.done; serr != nil && err == nil {
		err = serr
	}
	return err
}

// Close stops the server at once.
func (s *Server) Close() error {
	err := s.srv.Close()
	if serr := <-s.done; serr != nil && err == nil {
		err = serr
	}
	return err
}
