package main

import (
	"auth/bus"
	"auth/httpapi"
	"auth/replica"
)

// service is what the HTTP API serves: the replica, and what /status says
// about its store and bus.
type service struct {
	*replica.Replica
	store string // the store's kind; never a path or a URI
	epoch string // the store's epoch
	bus   *bus.Bus
}

var (
	_ httpapi.Service        = service{}
	_ httpapi.StatusReporter = service{}
	_ httpapi.EpochReporter  = service{}
)

func (s service) StoreDescription() string { return s.store }
func (s service) BusStatus() string        { return s.bus.Status() } // "none" for a nil bus
func (s service) TenantCount() int         { return s.Engine().TenantCount() }

// StoreEpoch is the store's epoch (see bolt.Store.Epoch and
// mongo.Store.Epoch), which a restored backup changes: seqs of one epoch
// say nothing of another's.
func (s service) StoreEpoch() string { return s.epoch }
