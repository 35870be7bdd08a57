// Command gcpsm serves the GCP Secret Manager emulator
// (github.com/blackwell-systems/gcp-secret-manager-emulator) on a loopback
// address only, for the local test environment.
package main

import (
	"flag"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	gcpemulator "github.com/blackwell-systems/gcp-secret-manager-emulator"
	"google.golang.org/grpc"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:9090", "host:port to serve gRPC on")
	flag.Parse()

	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("listen %s: %v", *addr, err)
	}
	srv := grpc.NewServer()
	if err := gcpemulator.Register(srv); err != nil {
		log.Fatalf("register secret manager emulator: %v", err)
	}
	go func() {
		quit := make(chan os.Signal, 1)
		signal.Notify(quit, syscall.SIGINT, syscall.SIGTERM)
		<-quit
		srv.Stop()
	}()
	log.Printf("secret manager emulator listening on %s", lis.Addr())
	if err := srv.Serve(lis); err != nil {
		log.Fatalf("serve: %v", err)
	}
}
