//! Which `CommonSecurityLog` column each CEF extension key fills.
//!
//! The pairs follow Microsoft Sentinel's "CEF and CommonSecurityLog field
//! mapping" reference. Keys are case-sensitive, as in CEF. Keys missing
//! here go to `AdditionalExtensions`, as Sentinel does.

/// CEF extension key and the `CommonSecurityLog` column it fills.
pub const CEF_KEY_COLUMNS: &[(&str, &str)] = &[
    ("act", "DeviceAction"),
    ("app", "ApplicationProtocol"),
    ("c6a1", "DeviceCustomIPv6Address1"),
    ("c6a1Label", "DeviceCustomIPv6Address1Label"),
    ("c6a2", "DeviceCustomIPv6Address2"),
    ("c6a2Label", "DeviceCustomIPv6Address2Label"),
    ("c6a3", "DeviceCustomIPv6Address3"),
    ("c6a3Label", "DeviceCustomIPv6Address3Label"),
    ("c6a4", "DeviceCustomIPv6Address4"),
    ("c6a4Label", "DeviceCustomIPv6Address4Label"),
    ("cat", "DeviceEventCategory"),
    ("cfp1", "DeviceCustomFloatingPoint1"),
    ("cfp1Label", "DeviceCustomFloatingPoint1Label"),
    ("cfp2", "DeviceCustomFloatingPoint2"),
    ("cfp2Label", "DeviceCustomFloatingPoint2Label"),
    ("cfp3", "DeviceCustomFloatingPoint3"),
    ("cfp3Label", "DeviceCustomFloatingPoint3Label"),
    ("cfp4", "DeviceCustomFloatingPoint4"),
    ("cfp4Label", "DeviceCustomFloatingPoint4Label"),
    ("cn1", "DeviceCustomNumber1"),
    ("cn1Label", "DeviceCustomNumber1Label"),
    ("cn2", "DeviceCustomNumber2"),
    ("cn2Label", "DeviceCustomNumber2Label"),
    ("cn3", "DeviceCustomNumber3"),
    ("cn3Label", "DeviceCustomNumber3Label"),
    ("cnt", "EventCount"),
    ("cs1", "DeviceCustomString1"),
    ("cs1Label", "DeviceCustomString1Label"),
    ("cs2", "DeviceCustomString2"),
    ("cs2Label", "DeviceCustomString2Label"),
    ("cs3", "DeviceCustomString3"),
    ("cs3Label", "DeviceCustomString3Label"),
    ("cs4", "DeviceCustomString4"),
    ("cs4Label", "DeviceCustomString4Label"),
    ("cs5", "DeviceCustomString5"),
    ("cs5Label", "DeviceCustomString5Label"),
    ("cs6", "DeviceCustomString6"),
    ("cs6Label", "DeviceCustomString6Label"),
    ("destinationDnsDomain", "DestinationDnsDomain"),
    ("destinationServiceName", "DestinationServiceName"),
    (
        "destinationTranslatedAddress",
        "DestinationTranslatedAddress",
    ),
    ("destinationTranslatedPort", "DestinationTranslatedPort"),
    ("deviceCustomDate1", "DeviceCustomDate1"),
    ("deviceCustomDate1Label", "DeviceCustomDate1Label"),
    ("deviceCustomDate2", "DeviceCustomDate2"),
    ("deviceCustomDate2Label", "DeviceCustomDate2Label"),
    ("deviceDirection", "CommunicationDirection"),
    ("deviceDnsDomain", "DeviceDnsDomain"),
    ("deviceExternalId", "DeviceExternalID"),
    ("deviceFacility", "DeviceFacility"),
    ("deviceInboundInterface", "DeviceInboundInterface"),
    ("deviceNtDomain", "DeviceNtDomain"),
    ("deviceOutboundInterface", "DeviceOutboundInterface"),
    ("devicePayloadId", "DevicePayloadId"),
    ("deviceProcessName", "ProcessName"),
    ("deviceTranslatedAddress", "DeviceTranslatedAddress"),
    ("dhost", "DestinationHostName"),
    ("dmac", "DestinationMACAddress"),
    ("dntdom", "DestinationNTDomain"),
    ("dpid", "DestinationProcessId"),
    ("dpriv", "DestinationUserPrivileges"),
    ("dproc", "DestinationProcessName"),
    ("dpt", "DestinationPort"),
    ("dst", "DestinationIP"),
    ("dtz", "DeviceTimeZone"),
    ("duid", "DestinationUserID"),
    ("duser", "DestinationUserName"),
    ("dvc", "DeviceAddress"),
    ("dvchost", "DeviceName"),
    ("dvcmac", "DeviceMacAddress"),
    ("dvcpid", "ProcessID"),
    ("end", "EndTime"),
    ("externalId", "ExternalID"),
    ("fileCreateTime", "FileCreateTime"),
    ("fileHash", "FileHash"),
    ("fileId", "FileID"),
    ("fileModificationTime", "FileModificationTime"),
    ("filePath", "FilePath"),
    ("filePermission", "FilePermission"),
    ("fileType", "FileType"),
    ("flexDate1", "FlexDate1"),
    ("flexDate1Label", "FlexDate1Label"),
    ("flexNumber1", "FlexNumber1"),
    ("flexNumber1Label", "FlexNumber1Label"),
    ("flexNumber2", "FlexNumber2"),
    ("flexNumber2Label", "FlexNumber2Label"),
    ("flexString1", "FlexString1"),
    ("flexString1Label", "FlexString1Label"),
    ("flexString2", "FlexString2"),
    ("flexString2Label", "FlexString2Label"),
    ("fname", "FileName"),
    ("fsize", "FileSize"),
    ("in", "ReceivedBytes"),
    ("msg", "Message"),
    ("oldFileCreateTime", "OldFileCreateTime"),
    ("oldFileHash", "OldFileHash"),
    ("oldFileId", "OldFileID"),
    ("oldFileModificationTime", "OldFileModificationTime"),
    ("oldFileName", "OldFileName"),
    ("oldFilePath", "OldFilePath"),
    ("oldFilePermission", "OldFilePermission"),
    ("oldFileSize", "OldFileSize"),
    ("oldFileType", "OldFileType"),
    ("out", "SentBytes"),
    ("outcome", "EventOutcome"),
    ("proto", "Protocol"),
    ("reason", "Reason"),
    ("request", "RequestURL"),
    ("requestClientApplication", "RequestClientApplication"),
    ("requestContext", "RequestContext"),
    ("requestCookies", "RequestCookies"),
    ("requestMethod", "RequestMethod"),
    ("rt", "ReceiptTime"),
    ("shost", "SourceHostName"),
    ("smac", "SourceMACAddress"),
    ("sntdom", "SourceNTDomain"),
    ("sourceDnsDomain", "SourceDnsDomain"),
    ("sourceServiceName", "SourceServiceName"),
    ("sourceTranslatedAddress", "SourceTranslatedAddress"),
    ("sourceTranslatedPort", "SourceTranslatedPort"),
    ("spid", "SourceProcessId"),
    ("spriv", "SourceUserPrivileges"),
    ("sproc", "SourceProcessName"),
    ("spt", "SourcePort"),
    ("src", "SourceIP"),
    ("start", "StartTime"),
    ("suid", "SourceUserID"),
    ("suser", "SourceUserName"),
    ("type", "EventType"),
];

#[cfg(test)]
mod tests {
    use store::tables::COMMON_SECURITY_LOG;

    use super::*;

    #[test]
    fn every_mapped_column_exists() {
        for (key, column) in CEF_KEY_COLUMNS {
            assert!(
                COMMON_SECURITY_LOG.column_index(column).is_some(),
                "{key} maps to {column}, which CommonSecurityLog lacks"
            );
        }
    }

    #[test]
    fn keys_and_columns_are_unique() {
        let mut keys: Vec<&str> = CEF_KEY_COLUMNS.iter().map(|(k, _)| *k).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), CEF_KEY_COLUMNS.len());
        let mut columns: Vec<&str> = CEF_KEY_COLUMNS.iter().map(|(_, c)| *c).collect();
        columns.sort_unstable();
        columns.dedup();
        assert_eq!(columns.len(), CEF_KEY_COLUMNS.len());
    }
}
