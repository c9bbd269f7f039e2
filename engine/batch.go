package engine

// Check is one question of a batch: may User do Permission?
type Check struct {
	User       string
	Permission string
}

// CheckMany answers every check from one state of the tenant (under one
// read lock), appending the answers to out in order. It allocates only if
// out has too little room.
func (t *Tenant) CheckMany(checks []Check, out []bool) []bool {
	if t == nil {
		for range checks {
			out = append(out, false)
		}
		return out
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	for i := range checks {
		out = append(out, t.userHasPermission(checks[i].User, checks[i].Permission))
	}
	return out
}
