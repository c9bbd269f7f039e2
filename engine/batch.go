package engine

// Check is one question of a batch: may User do Permission?
type Check struct {
	User       string
	Permission string
}
