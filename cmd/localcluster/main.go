// Command localcluster runs flyt's local control plane (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok with simulated nodes) in the foreground for
// people, and prints the kubeconfig to use with kubectl. Ctrl-C stops it and everything it started.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/flyt-platform/flyt/internal/testenv/controlplane"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run() error {
	nodes := flag.Int("nodes", 3, "simulated nodes to register")
	name := flag.String("name", "local", "name of the plane")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p, err := controlplane.Start(ctx, controlplane.Options{Nodes: *nodes, Name: *name})
	if err != nil {
		return err
	}
	defer func() {
		if err := p.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop the control plane:", err)
		}
	}()
	fmt.Printf("control plane %q is up with %d simulated nodes\n\n  kubectl --kubeconfig %s get nodes\n\nCtrl-C stops it.\n", *name, *nodes, p.Kubeconfig())
	<-ctx.Done()
	fmt.Println("stopping")
	return nil
}
