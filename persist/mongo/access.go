package mongo

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"auth/engine"
)

// access is how the store finds heads and reads ranges of a tenant's
// events. On MongoDB (mongoAccess) these are plain indexed queries: the
// last _id of a tenant's range, a sorted _id range, one aggregation over
// the heads index. The test server, FerretDB on SQLite, answers a range
// query by reading and decoding every document of the collection, so
// there the store takes them by _id lookups instead (ferretAccess, in
// ferret.go). Open chooses by what the server says it is.
type access interface {
	// head returns the tenant's highest seq, 0 if it has none; lo is a
	// seq known to exist or to have existed (0 if none is known), where a
	// search may start.
	head(ctx context.Context, hex string, lo uint64) (uint64, error)
	// eventDocs calls add with the tenant's event documents of seq >
	// after, in seq order, at most limit of them (-1: all).
	eventDocs(ctx context.Context, hex string, after uint64, limit int, add func(bson.Raw) error) error
	// heads calls fn with every tenant's head.
	heads(ctx context.Context, fn func(engine.TenantID, uint64) error) error
}

// Kinds of access, for Config.Access.
const (
	AccessAuto     = ""         // by what the server says it is
	AccessMongoDB  = "mongodb"  // indexed range queries
	AccessFerretDB = "ferretdb" // _id lookups
)

// chooseAccess returns the access for the server: FerretDB says it is in
// its buildInfo answer.
func chooseAccess(ctx context.Context, s *Store, kind string) (access, error) {
	if kind == AccessAuto {
		var info bson.Raw
		err := s.client.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info)
		if err != nil {
			return nil, unavailable("buildInfo", err)
		}
		kind = AccessMongoDB
		if _, err := info.LookupErr("ferretdbVersion"); err == nil {
			kind = AccessFerretDB
		}
	}
	if kind == AccessFerretDB {
		return ferretAccess{s}, nil
	}
	return mongoAccess{s}, nil
}

// mongoAccess reads with MongoDB's indexes.
type mongoAccess struct{ s *Store }

// head is the last _id of the tenant's range: one index lookup. Strays
// left below a retention floor (see Retention) lie below the head, which
// retention never deletes.
func (a mongoAccess) head(ctx context.Context, hex string, _ uint64) (uint64, error) {
	raw, found, err := findOne(ctx, a.s.events, tenantRange(hex),
		options.FindOne().SetSort(bson.D{{Key: "_id", Value: -1}}).SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil || !found {
		return 0, err
	}
	key, err := stringField(raw, "_id")
	if err != nil {
		return 0, err
	}
	h, err := seqOfKey(hex, key)
	if err == nil {
		a.s.see(hex, h)
	}
	return h, err
}

// eventDocs is one range query over the _id index.
func (a mongoAccess) eventDocs(ctx context.Context, hex string, after uint64, limit int, add func(bson.Raw) error) error {
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}})
	if limit > 0 {
		opts.SetLimit(int64(limit))
	}
	filter := bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: eventKey(hex, after)}, {Key: "$lt", Value: tenantEnd(hex)}}}}
	return a.s.each(ctx, a.s.events, "events of tenant "+hex, filter, opts, add)
}

// tenantRange is a filter of every event of the tenant.
func tenantRange(hex string) bson.D {
	return bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: hex + ":"}, {Key: "$lt", Value: tenantEnd(hex)}}}}
}

// heads is one aggregation: a $sort on the heads index and a $group taking
// each tenant's first entry, which MongoDB answers with one index entry per
// tenant (a DISTINCT_SCAN). A server without $first in $group (FerretDB,
// when made to take this path) is asked each tenant's head instead.
func (a mongoAccess) heads(ctx context.Context, fn func(engine.TenantID, uint64) error) error {
	s := a.s
	pipeline := mongo.Pipeline{
		{{Key: "$sort", Value: headsIndex}},
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$tenant"}, {Key: "head", Value: bson.D{{Key: "$first", Value: "$seq"}}}}}},
	}
	rctx, cancel := s.rt(ctx)
	cur, err := s.events.Aggregate(rctx, pipeline)
	cancel()
	var se mongo.ServerError
	if errors.As(err, &se) && se.HasErrorCode(errNotImplemented) {
		return s.headsOneByOne(ctx, fn)
	}
	if err != nil {
		return unavailable("heads", err)
	}
	defer func() {
		cctx, cancel := s.rt(context.WithoutCancel(ctx))
		defer cancel()
		_ = cur.Close(cctx)
	}()
	for {
		rctx, cancel := s.rt(ctx)
		ok := cur.Next(rctx)
		cancel()
		if !ok {
			break
		}
		var d struct {
			Tenant string `bson:"_id"`
			Head   int64  `bson:"head"`
		}
		if err := bson.Unmarshal(cur.Current, &d); err != nil {
			return fmt.Errorf("mongo: heads: %w: %v", errCorrupt, err)
		}
		tenant, err := engine.ParseTenantID(d.Tenant)
		if err != nil || tenant.String() != d.Tenant || d.Head < 0 {
			return fmt.Errorf("mongo: heads: %w: tenant %q at %d", errCorrupt, d.Tenant, d.Head)
		}
		s.see(d.Tenant, uint64(d.Head))
		if err := fn(tenant, uint64(d.Head)); err != nil {
			return err
		}
	}
	if err := cur.Err(); err != nil {
		return unavailable("heads", err)
	}
	return nil
}

// headsOneByOne calls fn with each listed tenant's head, asked one by one.
func (s *Store) headsOneByOne(ctx context.Context, fn func(engine.TenantID, uint64) error) error {
	tenants, err := s.listTenants(ctx)
	if err != nil {
		return err
	}
	for _, hex := range tenants {
		tenant, err := engine.ParseTenantID(hex)
		if err != nil || tenant.String() != hex {
			return fmt.Errorf("mongo: heads: %w: tenant _id %q", errCorrupt, hex)
		}
		rctx, cancel := s.rt(ctx)
		head, err := s.readHead(rctx, hex)
		cancel()
		if err != nil {
			return s.snapErr("head of tenant "+hex, err)
		}
		if head == 0 {
			continue // listed, but its first append failed
		}
		if err := fn(tenant, head); err != nil {
			return err
		}
	}
	return nil
}

// listTenants returns the _id of every tenants document.
func (s *Store) listTenants(ctx context.Context) ([]string, error) {
	var tenants []string
	err := s.each(ctx, s.tenants, "list tenants", bson.D{}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}),
		func(raw bson.Raw) error {
			hex, err := stringField(raw, "_id")
			if err != nil {
				return fmt.Errorf("%w (tenants collection)", err)
			}
			tenants = append(tenants, hex)
			return nil
		})
	return tenants, err
}
