package bus

import "auth/engine"

// DropDelivery makes a bus built from c drop every received event f
// returns true for, as if lost on the way: the tests' fault injection,
// which production code cannot reach.
func DropDelivery(c *Config, f func(ev *engine.Event) bool) { c.dropDelivery = f }
