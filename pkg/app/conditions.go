package app

// The condition types of DataPlaneService status and every reason they are written with: the
// one place that names them (the reconciler writes Registered and, through its Availability,
// Available; README "Status conditions" explains each).
const (
	ConditionRegistered = "Registered"
	ConditionAvailable  = "Available"

	// Registered
	ReasonRegistered           = "Registered"
	ReasonGroupVersionConflict = "GroupVersionConflict"

	// Available
	ReasonPluginRunning       = "PluginRunning"
	ReasonNotRegistered       = "NotRegistered"
	ReasonPluginNotFound      = "PluginNotFound"
	ReasonPluginNotRunning    = "PluginNotRunning"
	ReasonPluginTypeMismatch  = "PluginTypeMismatch"
	ReasonServiceUnsupported  = "ServiceUnsupported"
	ReasonPluginNotResponding = "PluginNotResponding"
)
