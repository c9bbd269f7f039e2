package main

import "fmt"

// serverCommands ask the server, not a tenant: they need no key.
var serverCommands = []command{
	{words: "status", nargs: 0, help: "the server's store and its epoch, bus and tenants; with a key, the seq", keyless: true, run: (*cli).status},
	{words: "ping", nargs: 0, help: "exit 0 if the server answers", keyless: true, run: (*cli).ping},
}

func (x *cli) status([]string) (int, error) {
	st, err := x.c.Status(x.ctx)
	if err != nil {
		return 0, err
	}
	human := "store:   " + st.Store
	if st.Epoch != "" {
		human += "\nepoch:   " + st.Epoch
	}
	human += fmt.Sprintf("\nbus:     %s\ntenants: %d", st.Bus, st.Tenants)
	if st.Seq != nil {
		human += fmt.Sprintf("\nseq:     %d", *st.Seq)
	}
	return x.print(st, human)
}

func (x *cli) ping([]string) (int, error) {
	if err := x.c.Ping(x.ctx); err != nil {
		return 0, err
	}
	return x.print(map[string]string{"message": "PONG"}, "PONG")
}
