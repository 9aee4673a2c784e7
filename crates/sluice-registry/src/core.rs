//! The registry's state and rules, without I/O.
//!
//! Reads answer from memory. A write is split in two: the operation checks the request against
//! the state and returns the [`Record`]s that express it (nothing changes yet); the caller
//! persists them and then [`Core::apply`]s them. Replaying the stored records through
//! [`Core::apply`] at start rebuilds the same state, so ids and versions survive restarts.

use crate::compat::{self, Previous};
use crate::error::RegistryError;
use crate::record::{ConfigValue, Key, ModeValue, Record, SchemaValue, Value};
use crate::schema::{self, Dependency, Parsed};
use crate::types::{CompatibilityLevel, Mode, SchemaReference, SchemaType, VersionSpec};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// A schema by id: its type, canonical text and references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSchema {
    /// Global id.
    pub id: u32,
    /// Type.
    pub schema_type: SchemaType,
    /// Canonical text.
    pub schema: String,
    /// References.
    pub references: Vec<SchemaReference>,
}

/// One version of a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionEntry {
    /// The schema's id.
    pub id: u32,
    /// Soft-deleted.
    pub deleted: bool,
}

/// A schema as a client sends it.
#[derive(Debug, Clone)]
pub struct SchemaInput {
    /// Type.
    pub schema_type: SchemaType,
    /// Text (or base64 descriptor for protobuf).
    pub schema: String,
    /// References.
    pub references: Vec<SchemaReference>,
    /// Id to use (IMPORT mode).
    pub id: Option<u32>,
    /// Version to use (IMPORT mode).
    pub version: Option<i32>,
}

/// What a registration did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// The schema's id.
    pub id: u32,
    /// The subject's version holding it.
    pub version: i32,
}

/// A version as returned to clients.
#[derive(Debug, Clone)]
pub struct VersionView {
    /// Subject.
    pub subject: String,
    /// Version.
    pub version: i32,
    /// Schema.
    pub schema: Arc<StoredSchema>,
    /// Soft-deleted.
    pub deleted: bool,
}

type ContentKey = (SchemaType, String, Vec<SchemaReference>);

/// The registry state.
#[derive(Debug, Clone)]
pub struct Core {
    default_level: CompatibilityLevel,
    subjects: BTreeMap<String, BTreeMap<i32, VersionEntry>>,
    schemas: HashMap<u32, Arc<StoredSchema>>,
    by_content: HashMap<ContentKey, u32>,
    config: Option<CompatibilityLevel>,
    subject_config: HashMap<String, CompatibilityLevel>,
    mode: Option<Mode>,
    subject_mode: HashMap<String, Mode>,
    max_id: u32,
}

impl Core {
    /// An empty registry whose subjects default to `default_level`.
    pub fn new(default_level: CompatibilityLevel) -> Self {
        Core {
            default_level,
            subjects: BTreeMap::new(),
            schemas: HashMap::new(),
            by_content: HashMap::new(),
            config: None,
            subject_config: HashMap::new(),
            mode: None,
            subject_mode: HashMap::new(),
            max_id: 0,
        }
    }

    // ---- applying records -------------------------------------------------------------

    /// Applies a stored record (at start, or after persisting a write).
    pub fn apply(&mut self, record: &Record) {
        match (&record.key, &record.value) {
            (Key::Schema { subject, version }, Value::Schema(v)) => {
                let stored = Arc::new(StoredSchema {
                    id: v.id,
                    schema_type: v.schema_type,
                    schema: v.schema.clone(),
                    references: v.references.clone(),
                });
                self.by_content
                    .entry((stored.schema_type, stored.schema.clone(), stored.references.clone()))
                    .or_insert(v.id);
                self.schemas.entry(v.id).or_insert(stored);
                self.subjects
                    .entry(subject.clone())
                    .or_default()
                    .insert(*version, VersionEntry { id: v.id, deleted: v.deleted });
                self.max_id = self.max_id.max(v.id);
            }
            (Key::Schema { subject, version }, Value::None) => {
                let removed = self.subjects.get_mut(subject).and_then(|vs| vs.remove(version));
                if self.subjects.get(subject).is_some_and(BTreeMap::is_empty) {
                    self.subjects.remove(subject);
                }
                if let Some(e) = removed {
                    self.forget_if_unused(e.id);
                }
            }
            (Key::Config(None), Value::Config(c)) => self.config = Some(c.compatibility_level),
            (Key::Config(None), _) => self.config = None,
            (Key::Config(Some(s)), Value::Config(c)) => {
                self.subject_config.insert(s.clone(), c.compatibility_level);
            }
            (Key::Config(Some(s)), _) => {
                self.subject_config.remove(s);
            }
            (Key::Mode(None), Value::Mode(m)) => self.mode = Some(m.mode),
            (Key::Mode(None), _) => self.mode = None,
            (Key::Mode(Some(s)), Value::Mode(m)) => {
                self.subject_mode.insert(s.clone(), m.mode);
            }
            (Key::Mode(Some(s)), _) => {
                self.subject_mode.remove(s);
            }
            (Key::DeleteSubject(s), Value::DeleteSubject(d)) => {
                if let Some(vs) = self.subjects.get_mut(s) {
                    for (_, e) in vs.range_mut(..=d.version) {
                        e.deleted = true;
                    }
                }
            }
            (Key::ClearSubject(s), _) => {
                let mut gone = Vec::new();
                if let Some(vs) = self.subjects.get_mut(s) {
                    vs.retain(|_, e| {
                        if e.deleted {
                            gone.push(e.id);
                        }
                        !e.deleted
                    });
                    if vs.is_empty() {
                        self.subjects.remove(s);
                    }
                }
                for id in gone {
                    self.forget_if_unused(id);
                }
            }
            _ => {}
        }
    }

    fn forget_if_unused(&mut self, id: u32) {
        let used = self.subjects.values().any(|vs| vs.values().any(|e| e.id == id));
        if !used && let Some(s) = self.schemas.remove(&id) {
            self.by_content.remove(&(s.schema_type, s.schema.clone(), s.references.clone()));
        }
    }

    // ---- settings ---------------------------------------------------------------------

    /// The level in force for a subject.
    pub fn effective_level(&self, subject: &str) -> CompatibilityLevel {
        self.subject_config.get(subject).copied().unwrap_or_else(|| self.global_level())
    }

    /// The global level.
    pub fn global_level(&self) -> CompatibilityLevel {
        self.config.unwrap_or(self.default_level)
    }

    /// The mode in force for a subject (or globally).
    pub fn effective_mode(&self, subject: Option<&str>) -> Mode {
        subject.and_then(|s| self.subject_mode.get(s).copied()).or(self.mode).unwrap_or(Mode::Readwrite)
    }

    /// `GET /config[/{subject}]`.
    pub fn get_config(
        &self,
        subject: Option<&str>,
        default_to_global: bool,
    ) -> Result<CompatibilityLevel, RegistryError> {
        match subject {
            None => Ok(self.global_level()),
            Some(s) => match self.subject_config.get(s) {
                Some(l) => Ok(*l),
                None if default_to_global => Ok(self.global_level()),
                None => Err(RegistryError::SubjectConfigNotFound(s.into())),
            },
        }
    }

    /// `PUT /config[/{subject}]`.
    pub fn set_config(&self, subject: Option<&str>, level: CompatibilityLevel) -> Result<Vec<Record>, RegistryError> {
        self.check_writable_settings(subject)?;
        Ok(vec![Record {
            key: Key::Config(subject.map(str::to_string)),
            value: Value::Config(ConfigValue { compatibility_level: level }),
        }])
    }

    /// `DELETE /config[/{subject}]`: the level that was in force, and the records.
    pub fn delete_config(&self, subject: Option<&str>) -> Result<(CompatibilityLevel, Vec<Record>), RegistryError> {
        self.check_writable_settings(subject)?;
        let old = match subject {
            None => self.global_level(),
            Some(s) => *self.subject_config.get(s).ok_or_else(|| RegistryError::SubjectConfigNotFound(s.into()))?,
        };
        Ok((old, vec![Record { key: Key::Config(subject.map(str::to_string)), value: Value::None }]))
    }

    /// `GET /mode[/{subject}]`.
    pub fn get_mode(&self, subject: Option<&str>, default_to_global: bool) -> Result<Mode, RegistryError> {
        match subject {
            None => Ok(self.mode.unwrap_or(Mode::Readwrite)),
            Some(s) => match self.subject_mode.get(s) {
                Some(m) => Ok(*m),
                None if default_to_global => Ok(self.mode.unwrap_or(Mode::Readwrite)),
                None => Err(RegistryError::SubjectModeNotFound(s.into())),
            },
        }
    }

    /// `PUT /mode[/{subject}]`; IMPORT needs an empty registry (or subject) unless `force`.
    pub fn set_mode(&self, subject: Option<&str>, mode: Mode, force: bool) -> Result<Vec<Record>, RegistryError> {
        if mode == Mode::Import && !force {
            let has_schemas = match subject {
                None => !self.subjects.is_empty(),
                Some(s) => self.subjects.contains_key(s),
            };
            if has_schemas {
                return Err(RegistryError::NotPermitted(
                    "Cannot import since found existing subjects; pass force=true to switch to IMPORT anyway".into(),
                ));
            }
        }
        Ok(vec![Record { key: Key::Mode(subject.map(str::to_string)), value: Value::Mode(ModeValue { mode }) }])
    }

    /// `DELETE /mode/{subject}`: the mode that was in force, and the records.
    pub fn delete_mode(&self, subject: Option<&str>) -> Result<(Mode, Vec<Record>), RegistryError> {
        let old = match subject {
            None => self.mode.unwrap_or(Mode::Readwrite),
            Some(s) => *self.subject_mode.get(s).ok_or_else(|| RegistryError::SubjectModeNotFound(s.into()))?,
        };
        Ok((old, vec![Record { key: Key::Mode(subject.map(str::to_string)), value: Value::None }]))
    }

    fn check_writable_settings(&self, subject: Option<&str>) -> Result<(), RegistryError> {
        if self.effective_mode(subject) == Mode::Readonly {
            return Err(RegistryError::NotPermitted(format!(
                "{} is in read-only mode; change it with PUT /mode",
                subject.map_or("The registry".to_string(), |s| format!("Subject {s}"))
            )));
        }
        Ok(())
    }

    fn check_writable(&self, subject: &str) -> Result<(), RegistryError> {
        if self.effective_mode(Some(subject)).read_only() {
            return Err(RegistryError::NotPermitted(format!(
                "Subject {subject} is in read-only mode; change it with PUT /mode/{subject}"
            )));
        }
        Ok(())
    }

    // ---- reads ------------------------------------------------------------------------

    /// A schema by id.
    pub fn schema_by_id(&self, id: u32) -> Result<Arc<StoredSchema>, RegistryError> {
        self.schemas.get(&id).cloned().ok_or_else(|| RegistryError::SchemaNotFound(format!("Schema {id} not found")))
    }

    /// Subjects with a live version (or any version if `deleted`), optionally by prefix.
    pub fn subjects(&self, deleted: bool, prefix: &str) -> Vec<String> {
        self.subjects
            .iter()
            .filter(|(s, vs)| s.starts_with(prefix) && vs.values().any(|e| deleted || !e.deleted))
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// A subject's version numbers.
    pub fn versions(&self, subject: &str, deleted: bool) -> Result<Vec<i32>, RegistryError> {
        let vs: Vec<i32> = self
            .subjects
            .get(subject)
            .map(|vs| vs.iter().filter(|(_, e)| deleted || !e.deleted).map(|(v, _)| *v).collect())
            .unwrap_or_default();
        if vs.is_empty() {
            return Err(RegistryError::SubjectNotFound(subject.into()));
        }
        Ok(vs)
    }

    /// One version of a subject; soft-deleted versions only if `deleted`.
    pub fn version(&self, subject: &str, spec: VersionSpec, deleted: bool) -> Result<VersionView, RegistryError> {
        let vs = self
            .subjects
            .get(subject)
            .filter(|vs| vs.values().any(|e| deleted || !e.deleted))
            .ok_or_else(|| RegistryError::SubjectNotFound(subject.into()))?;
        let (version, entry) = match spec {
            VersionSpec::Latest => vs.iter().rev().find(|(_, e)| deleted || !e.deleted),
            VersionSpec::Number(n) => vs.get_key_value(&n).filter(|(_, e)| deleted || !e.deleted),
        }
        .ok_or_else(|| RegistryError::VersionNotFound { subject: subject.into(), version: spec_text(spec) })?;
        Ok(VersionView {
            subject: subject.into(),
            version: *version,
            schema: self.schema_by_id(entry.id)?,
            deleted: entry.deleted,
        })
    }

    /// `(subject, version)` pairs holding a schema id.
    pub fn versions_of_id(&self, id: u32, deleted: bool) -> Result<Vec<(String, i32)>, RegistryError> {
        self.schema_by_id(id)?;
        Ok(self
            .subjects
            .iter()
            .flat_map(|(s, vs)| {
                vs.iter().filter(|(_, e)| e.id == id && (deleted || !e.deleted)).map(move |(v, _)| (s.clone(), *v))
            })
            .collect())
    }

    /// Ids of live schemas that reference `subject` `version`.
    pub fn referenced_by(&self, subject: &str, version: i32, include_deleted: bool) -> Vec<u32> {
        let mut ids: Vec<u32> = self
            .subjects
            .values()
            .flat_map(|vs| vs.values())
            .filter(|e| include_deleted || !e.deleted)
            .map(|e| e.id)
            .collect::<HashSet<u32>>()
            .into_iter()
            .filter(|id| {
                self.schemas
                    .get(id)
                    .is_some_and(|s| s.references.iter().any(|r| r.subject == subject && r.version == version))
            })
            .collect();
        ids.sort_unstable();
        ids
    }

    /// The schemas a reference list needs, transitively, with their texts.
    pub fn dependencies(&self, refs: &[SchemaReference]) -> Result<Vec<Dependency>, RegistryError> {
        let mut out: Vec<Dependency> = Vec::new();
        let mut stack: Vec<SchemaReference> = refs.iter().rev().cloned().collect();
        while let Some(r) = stack.pop() {
            if out.iter().any(|d| d.reference.name == r.name) {
                continue;
            }
            let spec = if r.version == -1 { VersionSpec::Latest } else { VersionSpec::Number(r.version) };
            let v = self.version(&r.subject, spec, true).map_err(|_| {
                RegistryError::InvalidRequest(format!(
                    "reference {:?} points at subject {:?} version {}, which does not exist; register it first",
                    r.name, r.subject, r.version
                ))
            })?;
            stack.extend(v.schema.references.iter().rev().cloned());
            out.push(Dependency {
                reference: SchemaReference { version: v.version, ..r },
                schema_type: v.schema.schema_type,
                text: v.schema.schema.clone(),
            });
        }
        Ok(out)
    }

    /// Parses a stored schema with its references.
    pub fn parse_stored(&self, s: &StoredSchema) -> Result<Parsed, RegistryError> {
        let deps = self.dependencies(&s.references)?;
        Ok(schema::parse(s.schema_type, &s.schema, &deps)?.0)
    }

    fn parse_input(&self, input: &SchemaInput) -> Result<(Parsed, String), RegistryError> {
        if input.schema.trim().is_empty() {
            return Err(RegistryError::InvalidRequest("the request has no \"schema\"".into()));
        }
        let deps = self.dependencies(&input.references)?;
        Ok(schema::parse(input.schema_type, &input.schema, &deps)?)
    }

    /// `POST /subjects/{subject}`: the version of `subject` holding this schema.
    pub fn lookup(&self, subject: &str, input: &SchemaInput, deleted: bool) -> Result<VersionView, RegistryError> {
        let vs = self
            .subjects
            .get(subject)
            .filter(|vs| vs.values().any(|e| deleted || !e.deleted))
            .ok_or_else(|| RegistryError::SubjectNotFound(subject.into()))?;
        let (_, canonical) = self.parse_input(input)?;
        let key = (input.schema_type, canonical, input.references.clone());
        let not_found = || RegistryError::SchemaNotFound("Schema not found".into());
        let id = *self.by_content.get(&key).ok_or_else(not_found)?;
        let (version, entry) = vs.iter().find(|(_, e)| e.id == id && (deleted || !e.deleted)).ok_or_else(not_found)?;
        Ok(VersionView {
            subject: subject.into(),
            version: *version,
            schema: self.schema_by_id(id)?,
            deleted: entry.deleted,
        })
    }

    fn live_previous(&self, subject: &str) -> Vec<(i32, Arc<StoredSchema>)> {
        self.subjects
            .get(subject)
            .map(|vs| {
                vs.iter()
                    .filter(|(_, e)| !e.deleted)
                    .filter_map(|(v, e)| self.schemas.get(&e.id).map(|s| (*v, s.clone())))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn compatibility_messages(
        &self,
        level: CompatibilityLevel,
        new: &Parsed,
        previous: &[(i32, Arc<StoredSchema>)],
    ) -> Result<Vec<String>, RegistryError> {
        if level == CompatibilityLevel::None || previous.is_empty() {
            return Ok(Vec::new());
        }
        let parsed: Vec<(i32, Parsed, &str)> = previous
            .iter()
            .filter_map(|(v, s)| match self.parse_stored(s) {
                Ok(p) => Some((*v, p, s.schema.as_str())),
                Err(e) => {
                    tracing::warn!("version {v} (id {}) no longer parses, skipped in the check: {e}", s.id);
                    None
                }
            })
            .collect();
        let prev: Vec<Previous<'_>> =
            parsed.iter().map(|(v, p, t)| Previous { version: *v, parsed: p, text: t }).collect();
        Ok(compat::check(level, new, &prev)?)
    }

    // ---- writes -----------------------------------------------------------------------

    /// `POST /subjects/{subject}/versions`.
    pub fn register(&self, subject: &str, input: &SchemaInput) -> Result<(Registered, Vec<Record>), RegistryError> {
        if subject.is_empty() || subject.chars().any(char::is_control) {
            return Err(RegistryError::InvalidRequest(format!("{subject:?} is not a valid subject name")));
        }
        self.check_writable(subject)?;
        let mode = self.effective_mode(Some(subject));
        let (parsed, canonical) = self.parse_input(input)?;
        let key = (input.schema_type, canonical, input.references.clone());
        let existing_id = self.by_content.get(&key).copied();
        let versions = self.subjects.get(subject);
        if let (Some(id), Some(vs)) = (existing_id, versions)
            && let Some((v, _)) = vs.iter().find(|(_, e)| e.id == id && !e.deleted)
            && input.id.is_none_or(|want| want == id)
        {
            return Ok((Registered { id, version: *v }, Vec::new()));
        }
        if mode != Mode::Import {
            if input.id.is_some() || input.version.is_some() {
                return Err(RegistryError::NotPermitted(
                    "a registration may name its id or version only in IMPORT mode (PUT /mode/{subject} {\"mode\":\"IMPORT\"})"
                        .into(),
                ));
            }
            let level = self.effective_level(subject);
            let messages = self.compatibility_messages(level, &parsed, &self.live_previous(subject))?;
            if !messages.is_empty() {
                return Err(RegistryError::Incompatible { subject: subject.into(), messages });
            }
        }
        let id = match (input.id, existing_id) {
            (Some(want), _) => {
                if let Some(other) = self.schemas.get(&want)
                    && (other.schema_type, &other.schema, &other.references) != (key.0, &key.1, &key.2)
                {
                    return Err(RegistryError::NotPermitted(format!(
                        "Overwrite new schema with id {want} is not permitted: the id holds a different schema"
                    )));
                }
                want
            }
            (None, Some(id)) => id,
            (None, None) => {
                self.max_id.checked_add(1).ok_or_else(|| RegistryError::NotPermitted("schema ids exhausted".into()))?
            }
        };
        let latest = versions.and_then(|vs| vs.keys().next_back().copied()).unwrap_or(0);
        let version = match input.version {
            Some(v) if v >= 1 => {
                if versions.is_some_and(|vs| vs.contains_key(&v)) {
                    return Err(RegistryError::NotPermitted(format!(
                        "version {v} of subject {subject} already exists"
                    )));
                }
                v
            }
            Some(v) => return Err(RegistryError::InvalidVersion(v.to_string())),
            None => latest.checked_add(1).ok_or_else(|| RegistryError::InvalidVersion("2147483648".into()))?,
        };
        let record = Record {
            key: Key::Schema { subject: subject.into(), version },
            value: Value::Schema(SchemaValue {
                subject: subject.into(),
                version,
                id,
                schema_type: input.schema_type,
                references: input.references.clone(),
                schema: key.1,
                deleted: false,
            }),
        };
        Ok((Registered { id, version }, vec![record]))
    }

    /// `POST /compatibility/subjects/{subject}/versions[/{version}]`: messages, empty when
    /// compatible. `None` checks against the versions the subject's level names.
    pub fn check_compatibility(
        &self,
        subject: &str,
        spec: Option<VersionSpec>,
        input: &SchemaInput,
    ) -> Result<Vec<String>, RegistryError> {
        let (parsed, _) = self.parse_input(input)?;
        let level = self.effective_level(subject);
        let previous = match spec {
            None => self.live_previous(subject),
            Some(spec) => {
                let v = self.version(subject, spec, false)?;
                vec![(v.version, v.schema)]
            }
        };
        self.compatibility_messages(level, &parsed, &previous)
    }

    /// `DELETE /subjects/{subject}/versions/{version}`.
    pub fn delete_version(
        &self,
        subject: &str,
        spec: VersionSpec,
        permanent: bool,
    ) -> Result<(i32, Vec<Record>), RegistryError> {
        self.check_writable(subject)?;
        let vs = self.subjects.get(subject).ok_or_else(|| RegistryError::SubjectNotFound(subject.into()))?;
        let (version, entry) = match spec {
            VersionSpec::Latest => vs.iter().rev().find(|(_, e)| !e.deleted),
            VersionSpec::Number(n) => vs.get_key_value(&n),
        }
        .ok_or_else(|| RegistryError::VersionNotFound { subject: subject.into(), version: spec_text(spec) })?;
        let (version, entry) = (*version, *entry);
        if !self.referenced_by(subject, version, permanent).is_empty() {
            return Err(RegistryError::ReferenceExists { subject: subject.into(), version });
        }
        let key = Key::Schema { subject: subject.into(), version };
        if permanent {
            if !entry.deleted {
                return Err(RegistryError::VersionNotSoftDeleted { subject: subject.into(), version });
            }
            return Ok((version, vec![Record { key, value: Value::None }]));
        }
        if entry.deleted {
            return Err(RegistryError::VersionSoftDeleted { subject: subject.into(), version });
        }
        Ok((version, vec![self.deleted_record(subject, version, entry.id)?]))
    }

    fn deleted_record(&self, subject: &str, version: i32, id: u32) -> Result<Record, RegistryError> {
        let s = self.schema_by_id(id)?;
        Ok(Record {
            key: Key::Schema { subject: subject.into(), version },
            value: Value::Schema(SchemaValue {
                subject: subject.into(),
                version,
                id,
                schema_type: s.schema_type,
                references: s.references.clone(),
                schema: s.schema.clone(),
                deleted: true,
            }),
        })
    }

    /// `DELETE /subjects/{subject}`: the versions deleted.
    pub fn delete_subject(&self, subject: &str, permanent: bool) -> Result<(Vec<i32>, Vec<Record>), RegistryError> {
        self.check_writable(subject)?;
        let vs = self.subjects.get(subject).ok_or_else(|| RegistryError::SubjectNotFound(subject.into()))?;
        let live: Vec<(i32, VersionEntry)> = vs.iter().filter(|(_, e)| !e.deleted).map(|(v, e)| (*v, *e)).collect();
        for v in vs.keys() {
            if !self.referenced_by(subject, *v, permanent).is_empty() {
                return Err(RegistryError::ReferenceExists { subject: subject.into(), version: *v });
            }
        }
        if permanent {
            if !live.is_empty() {
                return Err(RegistryError::SubjectNotSoftDeleted(subject.into()));
            }
            let mut records: Vec<Record> = vs
                .keys()
                .map(|v| Record { key: Key::Schema { subject: subject.into(), version: *v }, value: Value::None })
                .collect();
            if self.subject_config.contains_key(subject) {
                records.push(Record { key: Key::Config(Some(subject.into())), value: Value::None });
            }
            if self.subject_mode.contains_key(subject) {
                records.push(Record { key: Key::Mode(Some(subject.into())), value: Value::None });
            }
            return Ok((vs.keys().copied().collect(), records));
        }
        if live.is_empty() {
            return Err(RegistryError::SubjectSoftDeleted(subject.into()));
        }
        let records = live.iter().map(|(v, e)| self.deleted_record(subject, *v, e.id)).collect::<Result<_, _>>()?;
        Ok((live.iter().map(|(v, _)| *v).collect(), records))
    }
}

fn spec_text(spec: VersionSpec) -> String {
    match spec {
        VersionSpec::Latest => "latest".into(),
        VersionSpec::Number(n) => n.to_string(),
    }
}

#[cfg(test)]
mod tests;
