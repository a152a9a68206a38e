package main

// composeFlags are the flags of hull compose itself, before its command.
type composeFlags struct {
	files, profiles, envFiles []string
	name, dir                 string
}

// register adds `hull compose`'s own flags to fs: the same in hull and in
// hull-compose (compose_plugin.go), which parse them alike.
func (cf *composeFlags) register(fs *flags) {
	fs.Strings(&cf.files, "f", "file", "FILE", "Compose configuration files")
	fs.String(&cf.name, "p", "project-name", "NAME", "Project name")
	fs.Strings(&cf.profiles, "", "profile", "PROFILE", "Profile to enable")
	fs.Strings(&cf.envFiles, "", "env-file", "FILE", "Alternate environment files")
	fs.String(&cf.dir, "", "project-directory", "DIR", "Alternate working directory (default: the first file's directory)")
	fs.stopAtArg = true
}
