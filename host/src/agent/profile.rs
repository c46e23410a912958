//! Agent profiles: how the agent works in a session. `build` (the default: every tool,
//! the config's permissions), `plan` (read-only: only reading tools are offered, and the
//! gate denies edits and commands), and profiles of the user's from `[agents.NAME]`.

use std::collections::BTreeMap;

use crate::permission::{AgentRestriction, Decision, PermissionKey, Policy, ToolSet};
use crate::plugin::ToolSpec;

/// The profile used when none is chosen.
pub const DEFAULT_AGENT: &str = "build";

/// One profile.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentProfile {
    pub name: String,
    /// One line for listings.
    pub description: String,
    /// Added to the system prompt.
    pub prompt: Option<String>,
    /// The tools offered to the model and allowed to run.
    pub tools: ToolSet,
    /// Decisions and rules over the config's.
    pub permission: Policy,
    /// The model to ask (over the config's; `--model` wins).
    pub model: Option<String>,
    /// Said to the model when the profile denies a call.
    pub hint: Option<String>,
}

impl AgentProfile {
    /// Whether the model is told about `spec`.
    pub fn offers(&self, spec: &ToolSpec) -> bool {
        self.tools.contains(&spec.name, &spec.permission)
    }

    /// What the profile changes in the permission gate (nothing for `build`).
    pub fn restriction(&self) -> Option<AgentRestriction> {
        let unrestricted = self.tools == ToolSet::All && self.permission == Policy::default();
        (!unrestricted).then(|| AgentRestriction {
            agent: self.name.clone(),
            tools: self.tools.clone(),
            policy: self.permission.clone(),
            hint: self.hint.clone(),
        })
    }
}

/// The built-in profiles.
pub fn builtin_profiles() -> Vec<AgentProfile> {
    let denied = [
        PermissionKey::EDIT,
        PermissionKey::BASH,
        PermissionKey::WEBFETCH,
    ]
    .into_iter()
    .map(|key| (key, Decision::Deny))
    .collect();
    vec![
        AgentProfile {
            name: DEFAULT_AGENT.into(),
            description: "every tool; edits and commands as the config allows (the default)".into(),
            prompt: None,
            tools: ToolSet::All,
            permission: Policy::default(),
            model: None,
            hint: None,
        },
        AgentProfile {
            name: "plan".into(),
            description: "read-only: looks at the code and plans; edits and commands are denied"
                .into(),
            prompt: Some(
                "You are in plan mode: investigate with the read-only tools and answer with a \
                 plan (which files to change, and how). Do not edit files or run commands: \
                 those calls are denied in plan mode."
                    .into(),
            ),
            tools: ToolSet::WithPermission(PermissionKey::READ),
            permission: Policy {
                defaults: denied,
                ..Policy::default()
            },
            model: None,
            hint: Some(
                "you are in plan mode, which is read-only: do not retry it; describe the change \
                 instead (the user can switch to the `build` agent to make it)"
                    .into(),
            ),
        },
    ]
}

/// The profiles a run can use, by name: the built-ins and the config's (a config
/// profile with a built-in's name replaces it).
#[derive(Debug, Clone)]
pub struct AgentProfiles {
    profiles: BTreeMap<String, AgentProfile>,
}

/// A profile name no one defined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "there is no agent `{name}`; known agents: {known} (define more as [agents.NAME] in conch.toml)"
)]
pub struct UnknownAgent {
    pub name: String,
    pub known: String,
}

impl AgentProfile {
    /// The profile an `[agents.NAME]` table describes.
    pub fn from_config(table: crate::config::AgentConfig) -> Self {
        AgentProfile {
            name: table.name,
            description: table.description,
            prompt: table.prompt,
            tools: table.tools.map_or(ToolSet::All, |names| {
                ToolSet::Named(names.into_iter().collect())
            }),
            permission: table.permission,
            model: table.model,
            hint: None,
        }
    }
}

impl AgentProfiles {
    /// The built-ins with the config's `[agents.NAME]` tables over them.
    pub fn from_config(tables: Vec<crate::config::AgentConfig>) -> Self {
        Self::new(tables.into_iter().map(AgentProfile::from_config).collect())
    }

    /// The built-ins with `configured` over them.
    pub fn new(configured: Vec<AgentProfile>) -> Self {
        let profiles = builtin_profiles()
            .into_iter()
            .chain(configured)
            .map(|p| (p.name.clone(), p))
            .collect();
        AgentProfiles { profiles }
    }

    /// The profile `name`, or an error listing the known ones.
    pub fn find(&self, name: &str) -> Result<&AgentProfile, UnknownAgent> {
        self.profiles.get(name).ok_or_else(|| UnknownAgent {
            name: name.to_string(),
            known: self.profiles.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }

    /// Every profile, by name.
    pub fn iter(&self) -> impl Iterator<Item = &AgentProfile> {
        self.profiles.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permission::{Flags, Gate, Request};

    fn request(tool: &str, permission: &str) -> Request {
        Request {
            tool: tool.into(),
            permission: PermissionKey::parse(permission).expect("a key"),
            key: Some("a.txt".into()),
        }
    }

    #[test]
    fn plan_denies_edits_and_commands_even_with_yes_and_says_plan_mode() {
        let profiles = AgentProfiles::new(Vec::new());
        let plan = profiles.find("plan").unwrap();
        let mut gate = Gate::new(
            Policy::default(),
            Flags {
                yes: true,
                ..Flags::default()
            },
        );
        gate.set_agent(plan.restriction());
        let denied = gate.check(&request("write", "edit"), None).unwrap_err();
        assert!(denied.message.contains("plan mode"), "{}", denied.message);
        assert!(gate.check(&request("bash", "bash"), None).is_err());
        assert!(gate.check(&request("read", "read"), None).is_ok());
        assert!(profiles.find("build").unwrap().restriction().is_none());
    }

    #[test]
    fn a_profiles_decisions_and_rules_are_over_the_configs_and_flags_only_lift_its_asks() {
        use crate::permission::{Decision, PermissionRule};
        let mut config = Policy::default();
        config.defaults.insert(PermissionKey::BASH, Decision::Deny);
        let mut permission = Policy::default();
        permission
            .defaults
            .insert(PermissionKey::BASH, Decision::Ask);
        permission
            .rules
            .push(PermissionRule::new("bash", "cargo test*", Decision::Allow));
        permission
            .rules
            .push(PermissionRule::new("bash", "rm *", Decision::Deny));
        let tester = AgentProfile {
            name: "tester".into(),
            description: String::new(),
            prompt: None,
            tools: ToolSet::All,
            permission,
            model: None,
            hint: None,
        };
        let bash = |command: &str| Request {
            tool: "bash".into(),
            permission: PermissionKey::BASH,
            key: Some(command.into()),
        };
        let mut gate = Gate::new(config, Flags::default());
        gate.set_agent(tester.restriction());
        assert_eq!(
            gate.decide(&bash("cargo test -q")).decision,
            Decision::Allow
        );
        assert_eq!(gate.decide(&bash("ls")).decision, Decision::Ask);
        let mut yes = Gate::new(
            Policy::default(),
            Flags {
                yes: true,
                ..Flags::default()
            },
        );
        yes.set_agent(tester.restriction());
        assert_eq!(yes.decide(&bash("ls")).decision, Decision::Allow);
        let denied = yes.check(&bash("rm -rf x"), None).unwrap_err();
        assert!(
            denied
                .message
                .contains("not allowed for the `tester` agent"),
            "{}",
            denied.message
        );
    }

    #[test]
    fn an_unknown_agent_lists_the_known_ones() {
        let err = AgentProfiles::new(Vec::new()).find("plna").unwrap_err();
        assert!(
            err.to_string().contains("known agents: build, plan"),
            "{err}"
        );
    }
}
