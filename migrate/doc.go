// Package migrate moves the data of the original Python server (auth 0.5.3,
// mongoengine on MongoDB) into an auth-server: it reads the original's
// database, works out what the original answered for each of its keys,
// writes each key's tenant with one POST /v1/import, and verifies the
// server against the original's answers. `authctl migrate-original` is its
// command line.
//
// # The original's data
//
// Three collections of the database Authorization_0x0199: auth_group (a
// key's roles: creator, role), auth_membership (a key's user and the
// groups it is in, as ObjectId references) and auth_permission (a
// permission's name and the groups granted it). Each document's creator is
// the key that wrote it: the key names the tenant, so the migration groups
// documents by creator, and needs no key of its own.
//
// # What is imported
//
// What the original answered, and no more: users must not gain
// permissions by migrating.
//
//   - A key's roles are its groups.
//   - A membership is a reference in the key's membership document of a
//     user to one of the key's groups.
//   - A grant counts for a key only where the original answered it: the
//     permission document's creator is that key, and the group is that
//     key's. The original's add_permission matched a permission by name
//     alone, across keys, and set its creator to the caller, while its
//     reads filter by creator; so a document may hold groups of several
//     keys, and the grants of every key but the last were answered false.
//     Those hidden grants are reported for the group's key, and imported
//     to it only with Options.RestoreHiddenGrants.
//   - A reference to a group that no longer exists (the original's role
//     delete does not cascade) is skipped and counted; a reference listed
//     twice counts once; a membership's reference to another key's group,
//     which the original never wrote, is skipped and counted.
//   - is_active is ignored, as the original's checks ignore it.
//   - Names the server refuses (empty, over 256 bytes, invalid UTF-8, a
//     control character) are reported, and their tenant is not imported
//     unless Options.SkipInvalid, which drops just the facts holding them
//     (a role's grants and members go with it). A key the server cannot
//     take refuses its tenant.
//
// The original's own answers disagree in one place the server cannot
// follow: its which_roles_can listed the roles of every group in the
// permission document, other keys' included. The migration follows its
// has_permission, which the checks use.
//
// # Writing, and running again
//
// Each tenant is written as one import, so it lands whole or not at all.
// Tenants are read and verified several at once (Config.Parallel), and
// their imports sent Config.Imports at once, 1 by default as a server
// takes them; a server busy with other imports answers 429, having
// changed nothing, and the import is sent again after a pause.
// Imports merge, so the tenant is read first: an empty tenant is
// imported; one that already holds exactly the tenant's facts is left
// alone (unchanged: a rerun writes nothing); one that holds anything else
// is not written, and reported, since a merge would undo what was changed
// on the server since. Every tenant ends in one outcome: imported,
// unchanged, not applied (nothing written) or unknown (the import may have
// been made; a rerun finds out and finishes it).
//
// # Verification
//
// After the imports, each tenant on the server is compared with what the
// original answered, worked out from the documents by a second account of
// the original's reads (original.go, after its code rather than after
// Plan): every role, every role's permissions and members, and a sample of
// checks. Any difference is reported and fails the run.
//
// # Keys
//
// Keys are secrets: a [Key] prints as its fingerprint, the first hex
// digits of the tenant's id inside the server (engine.KeyID), with every
// verb and in JSON; reports, errors and progress lines name tenants by it.
// The key itself goes only into the Authorization header of the requests
// that write and verify its tenant.
package migrate
