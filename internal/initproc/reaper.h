#include <stdint.h>

// Where a WithInit container's Go init finds its socket to the reaper
// (ReaperFD in reaper_linux.go).
#define HULL_REAPER_FD 6

// How many supplementary groups the reaper takes at most.
#define HULL_REAPER_MAX_GROUPS 64

// The most seccomp instructions the reaper takes (BPF_MAXINSNS).
#define HULL_REAPER_MAX_FILTER 4096

// The command's credentials, as the Go init sends them to the reaper,
// followed by nfilter struct sock_filter: the container's seccomp program.
struct hull_reaper_creds {
	uint32_t uid, gid, ngroups;
	uint32_t groups[HULL_REAPER_MAX_GROUPS];
	uint32_t nfilter;
};
