package hulltest

// Missing is missing, for the external tests' TestMain.
var Missing = missing
