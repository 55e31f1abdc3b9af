// Package config loads, validates and reloads bulwarkd's configuration.
//
// # Sources and precedence
//
// A value comes from the first of these that sets it:
//
//  1. command-line flags (--gRPC=32767, --logPath=stdout; flag names are
//     the key names, plus --policy-dir for policyDir);
//  2. environment variables BULWARK_<KEY IN UPPER CASE> (BULWARK_GRPC,
//     BULWARK_LOGPATH, BULWARK_DEFAULTFILEPOSTURE, ...);
//  3. the YAML configuration file (bulwarkd --config FILE);
//  4. the built-in defaults (Keys lists them).
//
// KubeArmor differs: there the configuration file beats the environment,
// which beats flag defaults, so a flag given on the command line can be
// overridden by a forgotten file. Bulwark follows the usual daemon
// convention instead: what the operator typed last wins.
//
// Key names are KubeArmor's where one exists (gRPC, logPath,
// hostDefaultFilePosture, ...) and are matched case-insensitively in the
// file, as viper does upstream. List keys (lsm, untrackedNs, visibility)
// take a comma-separated string or a YAML sequence; gRPC takes a port as a
// YAML number or string, a host:port, or unix:///path.
//
// # Validation
//
// Load reports every problem at once (errors.Join of *Error values), each
// naming where the value came from: FILE:LINE:COL for the file, the
// variable for the environment, the flag for flags. Unknown keys in the
// file are errors; unknown BULWARK_* variables are only warnings
// (Config.Warnings), since the environment is shared with other programs.
//
// # Host mode
//
// With k8s false (the default for now) and the keys left unset,
// enableKubeArmorHostPolicy becomes true and hostVisibility "default"
// becomes process,file,network,capabilities, as in KubeArmor's systemd
// packages.
//
// # Reload
//
// A Watcher reloads the file when it changes (fsnotify) and on SIGHUP. A
// reload that fails validation keeps the running configuration and logs
// why. Only the dynamic keys (Key.Dynamic; postures, visibility and
// throttling) take effect live; changes to other keys are logged as
// needing a restart.
package config
